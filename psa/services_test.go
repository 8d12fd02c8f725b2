package psa

import (
	"testing"
)

// Round trips and every-prefix refusals of the fixed-size structures the
// storage and FWU services put on the wire.
func TestStorageInfoWire(t *testing.T) {
	in := StorageInfo{Capacity: 4096, Size: 1000, Flags: StorageFlagWriteOnce | StorageFlagNoReplayProtection}
	b := AppendStorageInfo(nil, in)
	if len(b) != StorageInfoSize {
		t.Fatalf("%d bytes", len(b))
	}
	out, err := ParseStorageInfo(b)
	if err != nil || out != in {
		t.Fatalf("%+v %v", out, err)
	}
	for n := 0; n < len(b); n++ {
		if _, err := ParseStorageInfo(b[:n]); err == nil {
			t.Fatalf("prefix %d accepted", n)
		}
	}
	if _, err := ParseStorageInfo(append(b, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

func TestFWUComponentInfoWire(t *testing.T) {
	in := FWUComponentInfo{State: FWUTrial, Error: int32(ErrInvalidSignature),
		Version: FWUImageVersion{1, 2, 3, 4}, Candidate: FWUImageVersion{2, 0, 65535, 1 << 31}, MaxSize: 0x10000}
	b := AppendFWUComponentInfo(nil, in)
	if len(b) != FWUComponentInfoSize {
		t.Fatalf("%d bytes", len(b))
	}
	out, err := ParseFWUComponentInfo(b)
	if err != nil || out != in {
		t.Fatalf("%+v %v", out, err)
	}
	for n := 0; n < len(b); n++ {
		if _, err := ParseFWUComponentInfo(b[:n]); err == nil {
			t.Fatalf("prefix %d accepted", n)
		}
	}
	if in.State.String() != "TRIAL" || FWUState(99).String() != "state(99)" || in.Version.String() != "1.2.3+4" {
		t.Fatal("names")
	}
}

func FuzzParseFWUComponentInfo(f *testing.F) {
	f.Add(AppendFWUComponentInfo(nil, FWUComponentInfo{State: FWUUpdated, MaxSize: 1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		i, err := ParseFWUComponentInfo(b)
		if err != nil {
			return
		}
		// Re-encoding gives the input back, reserved bytes cleared.
		want := append([]byte(nil), b...)
		want[1], want[2], want[3] = 0, 0, 0
		if got := AppendFWUComponentInfo(nil, i); string(got) != string(want) {
			t.Fatalf("re-encoding %x, want %x", got, want)
		}
	})
}
