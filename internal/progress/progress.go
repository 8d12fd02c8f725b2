// Package progress is the one progress display of Rampart's long commands
// (rampart sim, campaign status --watch, the admin API's large imports and
// exports): on a terminal a single line redrawn
// in place; anywhere else (a pipe, a file, CI) plain lines, one when the text
// changes and at most one per interval, so a log stays readable and free of
// control characters.
//
// It only writes to the writer it is given, never reads, and never decides
// what the line says.
package progress

import (
	"io"
	"os"
	"sync"
	"time"
)

// Options tune a Line; the zero value detects the terminal and prints plain
// lines at most once per second.
type Options struct {
	// Terminal forces the redrawn line (true) or plain lines (false);
	// nil detects it from the writer.
	Terminal *bool
	// Every is the least time between two plain lines (default 1 s); a
	// terminal line is redrawn at every Update.
	Every time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Line is one progress display. Its methods may be called from several
// goroutines.
type Line struct {
	w     io.Writer
	tty   bool
	every time.Duration
	now   func() time.Time

	mu     sync.Mutex
	last   string // the text last written
	lastAt time.Time
	drawn  bool // a terminal line is on screen without its newline
}

// New returns a Line writing to w with default options.
func New(w io.Writer) *Line { return NewWith(w, Options{}) }

// NewWith returns a Line writing to w.
func NewWith(w io.Writer, o Options) *Line {
	l := &Line{w: w, every: o.Every, now: o.Now}
	if l.every <= 0 {
		l.every = time.Second
	}
	if l.now == nil {
		l.now = time.Now
	}
	if o.Terminal != nil {
		l.tty = *o.Terminal
	} else {
		l.tty = IsTerminal(w)
	}
	return l
}

// Terminal reports whether the line is redrawn in place.
func (l *Line) Terminal() bool { return l.tty }

// Update shows text as the current state.
func (l *Line) Update(text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tty {
		io.WriteString(l.w, "\r\x1b[K"+text)
		l.last, l.drawn = text, true
		return
	}
	now := l.now()
	if text == l.last || (!l.lastAt.IsZero() && now.Sub(l.lastAt) < l.every) {
		return
	}
	io.WriteString(l.w, text+"\n")
	l.last, l.lastAt = text, now
}

// Done shows text as the final state and ends the line; later output
// starts on a line of its own.
func (l *Line) Done(text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tty {
		io.WriteString(l.w, "\r\x1b[K"+text+"\n")
		l.last, l.drawn = text, false
		return
	}
	if text != l.last {
		io.WriteString(l.w, text+"\n")
	}
	l.last, l.lastAt = text, l.now()
}

// IsTerminal reports whether w is a character device (a terminal) and the
// environment does not say it cannot redraw (TERM=dumb).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && f.Name() != os.DevNull
}
