// Package demo runs Rampart's end-to-end quickstart: a narrated sequence of
// steps that takes a device from a signed firmware image through the parts
// that exist in this build, checking every outcome.
//
// It only composes the public APIs of the other packages and keeps every file
// it writes inside the directory it is given. It must never weaken a check
// to make a step pass: a step that does not get the expected answer fails
// the demo.
package demo

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Step is one narrated stage of the demo.
type Step struct {
	Name string
	Run  func(s *State) (detail string, err error)
}

// Result is what one step did.
type Result struct {
	Name    string        `json:"name"`
	OK      bool          `json:"ok"`
	Detail  string        `json:"detail,omitempty"`
	Error   string        `json:"error,omitempty"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Summary is the whole run.
type Summary struct {
	Dir     string   `json:"dir"`
	Steps   []Result `json:"steps"`
	Passed  int      `json:"passed"`
	Failed  int      `json:"failed"`
	Skipped []string `json:"not_built,omitempty"`
	// Console is where the console ran (demo --serve).
	Console *ConsoleInfo `json:"console,omitempty"`
}

// OK reports whether every step passed.
func (s *Summary) OK() bool { return s.Failed == 0 && s.Passed > 0 }

// Options configure a run.
type Options struct {
	Dir string    // working directory for keys, images and flash; must exist
	Out io.Writer // narration; io.Discard for none
	// Rand is the randomness for keys and signatures; crypto/rand when nil.
	Rand io.Reader
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Temporary says Dir is removed when the run ends: the summary says
	// so rather than pointing at files that will be gone.
	Temporary bool
	// Serve leaves the fleet running after the steps, with more simulated
	// devices reporting, and prints the console's address and a sign-in
	// token; Run returns when Serve ends (rampart demo --serve).
	Serve context.Context
	// OnServe, when set, is told where the console is once it runs.
	OnServe func(ConsoleInfo)
}

// Run executes every step in order. A failed step is reported and the run
// goes on where later steps do not depend on it; steps whose inputs are
// missing fail with a message saying which earlier step they needed.
func Run(o Options) *Summary {
	if o.Now == nil {
		o.Now = time.Now
	}
	st := newState(o)
	sum := &Summary{Dir: o.Dir, Skipped: notBuilt}
	for i, step := range Steps() {
		fmt.Fprintf(o.Out, "\n[%d] %s\n", i+1, step.Name)
		start := o.Now()
		detail, err := step.Run(st)
		r := Result{Name: step.Name, OK: err == nil, Detail: detail, Elapsed: o.Now().Sub(start)}
		if err != nil {
			r.Error = err.Error()
			sum.Failed++
			fmt.Fprintf(o.Out, "    FAIL %v\n", err)
		} else {
			sum.Passed++
			st.passed[step.Name] = true
			for _, line := range splitLines(detail) {
				fmt.Fprintf(o.Out, "    %s\n", line)
			}
		}
		sum.Steps = append(sum.Steps, r)
	}
	if o.Temporary {
		fmt.Fprintf(o.Out, "\nSummary: %d steps passed, %d failed (the files above were in a temporary directory, now removed: run with --keep or --dir DIR to keep them)\n", sum.Passed, sum.Failed)
	} else {
		fmt.Fprintf(o.Out, "\nSummary: %d steps passed, %d failed (files in %s)\n", sum.Passed, sum.Failed, o.Dir)
	}
	if len(sum.Skipped) > 0 {
		fmt.Fprintf(o.Out, "Not part of this build yet: %v\n", sum.Skipped)
	}
	if st.served != nil {
		sum.Console = st.served
		fmt.Fprintf(o.Out, "\nThe fleet keeps running. Fleet console: %s\nSign in with the admin-API token: %s\n"+
			"(the browser warns about the demo CA's certificate; the server listens on 127.0.0.1 only). Interrupt (Ctrl-C) to stop.\n", st.served.URL, st.served.Token)
		if o.OnServe != nil {
			o.OnServe(*st.served)
		}
		<-o.Serve.Done()
		st.stopServed()
		fmt.Fprintf(o.Out, "Fleet stopped.\n")
	}
	return sum
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
