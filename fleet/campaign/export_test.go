package campaign

import "rampart/fleet/store"

// SetHookBeforeSave makes Step call f between deciding its state
// transitions and writing them (a test's operator acts in between).
func SetHookBeforeSave(e *Engine, f func()) { e.hookBeforeSave = f }

// Kill stops e's loop without writing anything it holds: a node that dies.
func Kill(e *Engine) {
	if e.stop != nil {
		e.stop()
		<-e.done
		e.stop = nil
	}
}

// ReadClock and ApplyRow expose applyRow's guard against a row read
// before this node's own later write of it.
func ReadClock(e *Engine) uint64 { return e.readClock() }

func ApplyRow(e *Engine, campaignID string, row store.CampaignDevice, readAt uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.applyRow(e.camps[campaignID], &row, readAt)
}
