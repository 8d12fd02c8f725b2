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
	for _, want := range []string{"no 32-byte run of the firmware", "without the device-class key:", "with another key:", "firmware recovered",
		"decrypt key provisioned", "device: booted 2.0.0+0, decrypted into the primary slot", "reboots into 2.0.0+0"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
}
