package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestSecureSensor(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"published 3 signed readings", "verified 3 readings", "altered reading refused: signature does not verify"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
}
