package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestBadUpdateRecovery(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"ok=false, running 1.0.0", "sensor bus does not answer", "ok=true, running 2.0.1"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
}
