package campaign

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
