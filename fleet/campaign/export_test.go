package campaign

// SetHookBeforeSave makes Step call f between deciding its state
// transitions and writing them (a test's operator acts in between).
func SetHookBeforeSave(e *Engine, f func()) { e.hookBeforeSave = f }
