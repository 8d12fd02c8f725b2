package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestEncryptedFirmware(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"no 32-byte run of the firmware", "without the device-class key:", "with another key:", "firmware recovered"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
}
