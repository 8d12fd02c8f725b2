package keyfuse

import "testing"

// TestStatusAndUsableAgree: every combination of one key's four bits
// gets a name, and the name says usable exactly when Usable does.
func TestStatusAndUsableAgree(t *testing.T) {
	usableNames := map[string]bool{"active": true, "retiring": true}
	for bits := range 16 {
		for _, k := range []int{0, 7, 31} {
			b := uint32(1) << uint(k)
			w := Words{}
			if bits&1 != 0 {
				w.Pending = b
			}
			if bits&2 != 0 {
				w.Activated = b
			}
			if bits&4 != 0 {
				w.Retiring = b
			}
			if bits&8 != 0 {
				w.Revoked = b
			}
			s := w.Status(k)
			if got, want := w.Usable(k), usableNames[s]; got != want {
				t.Errorf("bits %04b key %d: status %q but Usable %v", bits, k, s, got)
			}
			if bits&8 != 0 && s != "revoked" {
				t.Errorf("bits %04b key %d: revoked fuse named %q", bits, k, s)
			}
			// Another key's bits never change this key's state.
			if o := w.Status((k + 1) % MaxKeys); o != "active" {
				t.Errorf("bits %04b on key %d: key %d named %q", bits, k, (k+1)%MaxKeys, o)
			}
		}
	}
}

func TestOutOfRange(t *testing.T) {
	w := Words{}
	for _, k := range []int{-1, MaxKeys, 64} {
		if w.Usable(k) || w.Status(k) != "invalid" {
			t.Errorf("key %d: usable %v, status %q; want unusable and invalid", k, w.Usable(k), w.Status(k))
		}
	}
}
