package audit

import (
	"bytes"
	"crypto"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
)

// reframe rebuilds a store from frames, recomputing each CRC: an attacker
// who edits the store can always do this.
func reframe(fs []*frame) []byte {
	var b []byte
	for _, f := range fs {
		b = appendFrame(b, f.kind, f.body)
	}
	return b
}

func verifyBytes(t *testing.T, b []byte, key crypto.Signer, anchor *Checkpoint) (*Report, error) {
	t.Helper()
	return Verify(memOf(b), int64(len(b)), key.Public(), VerifyOptions{Anchor: anchor})
}

func lastCheckpoint(t *testing.T, b []byte) *Checkpoint {
	fs := frames(t, b)
	c, err := unmarshalCheckpoint(fs[len(fs)-1].body)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEveryByteEdit flips bits in every byte: with the reader's anchor,
// every edit is detected. Without it, an edit is either detected or makes
// the tail look like a torn append (reported in TornBytes); it never passes
// as an intact log.
func TestEveryByteEdit(t *testing.T) {
	key := testKey(t)
	orig := buildLog(t, key, 8, 3).bytes()
	anchor := lastCheckpoint(t, orig)
	fs := frames(t, orig)
	lastStart := fs[len(fs)-1].offset
	torn := 0 // edits before the last frame that read as a torn tail
	defer func() {
		t.Logf("%d of %d single-bit edits before the last frame read as a torn tail without an anchor", torn, 2*lastStart)
	}()
	for i := range orig {
		for _, bit := range []byte{0x01, 0x80} {
			b := bytes.Clone(orig)
			b[i] ^= bit
			if _, err := verifyBytes(t, b, key, anchor); !errors.Is(err, ErrTampered) {
				t.Fatalf("edit at byte %d (bit %#x) not detected with the anchor: %v", i, bit, err)
			}
			rep, err := verifyBytes(t, b, key, nil)
			if err == nil && rep.TornBytes == 0 {
				t.Fatalf("edit at byte %d neither detected nor reported torn", i)
			}
			if err == nil && int64(i) < lastStart {
				torn++
			}
		}
	}
}

func recordFrames(fs []*frame) []int {
	var idx []int
	for i, f := range fs {
		if f.kind == kindRecord {
			idx = append(idx, i)
		}
	}
	return idx
}

// renumber rewrites the sequence numbers of all records in order.
func renumber(fs []*frame) {
	seq := uint64(0)
	for _, f := range fs {
		if f.kind == kindRecord {
			f.body = bytes.Clone(f.body)
			binary.BigEndian.PutUint64(f.body, seq)
			seq++
		}
	}
}

// TestCraftedTampering: edits an attacker makes with valid frames (CRCs
// recomputed, sequence numbers rewritten) are caught by the chain and the
// signed checkpoints.
func TestCraftedTampering(t *testing.T) {
	key := testKey(t)
	orig := buildLog(t, key, 10, 4).bytes()
	anchor := lastCheckpoint(t, orig)
	edits := map[string]func(fs []*frame) []*frame{
		"edit data": func(fs []*frame) []*frame {
			f := fs[recordFrames(fs)[2]]
			f.body = bytes.Clone(f.body)
			f.body[len(f.body)-1] ^= 1
			return fs
		},
		"edit client": func(fs []*frame) []*frame {
			f := fs[recordFrames(fs)[5]]
			f.body = bytes.Clone(f.body)
			f.body[19] ^= 1
			return fs
		},
		"delete a record": func(fs []*frame) []*frame {
			i := recordFrames(fs)[1]
			return append(fs[:i:i], fs[i+1:]...)
		},
		"delete a record and renumber": func(fs []*frame) []*frame {
			i := recordFrames(fs)[1]
			fs = append(fs[:i:i], fs[i+1:]...)
			renumber(fs)
			return fs
		},
		"swap two records": func(fs []*frame) []*frame {
			r := recordFrames(fs)
			fs[r[0]], fs[r[1]] = fs[r[1]], fs[r[0]]
			return fs
		},
		"swap two records and renumber": func(fs []*frame) []*frame {
			r := recordFrames(fs)
			fs[r[0]], fs[r[1]] = fs[r[1]], fs[r[0]]
			renumber(fs)
			return fs
		},
		"insert a record": func(fs []*frame) []*frame {
			rec := Record{Seq: 3, Event: "forged", Client: 1}
			i := recordFrames(fs)[3]
			fs = append(fs[:i:i], append([]*frame{{kind: kindRecord, body: rec.marshal()}}, fs[i:]...)...)
			renumber(fs)
			return fs
		},
		"move a checkpoint": func(fs []*frame) []*frame {
			for i, f := range fs {
				if f.kind == kindCheckpoint {
					fs[i], fs[i+1] = fs[i+1], fs[i]
					return fs
				}
			}
			return fs
		},
		"re-time a checkpoint": func(fs []*frame) []*frame {
			for _, f := range fs {
				if f.kind == kindCheckpoint {
					f.body = bytes.Clone(f.body)
					f.body[47] ^= 1
					return fs
				}
			}
			return fs
		},
		"drop the last checkpoint": func(fs []*frame) []*frame { return fs[:len(fs)-1] },
		"truncate to the first checkpoint": func(fs []*frame) []*frame {
			for i, f := range fs {
				if f.kind == kindCheckpoint {
					return fs[:i+1]
				}
			}
			return fs
		},
		"drop everything": func(fs []*frame) []*frame { return nil },
	}
	for name, edit := range edits {
		b := reframe(edit(frames(t, orig)))
		if crc32.Checksum(b, castagnoli()) == crc32.Checksum(orig, castagnoli()) {
			t.Fatalf("%s: the edit changed nothing", name)
		}
		if _, err := verifyBytes(t, b, key, anchor); !errors.Is(err, ErrTampered) {
			t.Errorf("%s: not detected: %v", name, err)
		}
		var te *TamperError
		if _, err := verifyBytes(t, b, key, anchor); errors.As(err, &te) && testing.Verbose() {
			t.Logf("%s: %v", name, err)
		}
		// Open refuses to append to a tampered store (a truncated one is
		// only detectable with an anchor, which Open does not have).
		if name != "drop the last checkpoint" && name != "truncate to the first checkpoint" && name != "drop everything" {
			if _, err := Open(memOf(b), key, Options{}); !errors.Is(err, ErrTampered) {
				t.Errorf("%s: Open accepted the store: %v", name, err)
			}
		}
	}
	// Another key's checkpoints do not verify.
	if _, err := verifyBytes(t, orig, testKey(t), nil); !errors.Is(err, ErrTampered) || !errors.Is(err, ErrSignature) {
		t.Errorf("wrong key: %v", err)
	}
}

// TestRollback: an older copy of the store is a valid log on its own; the
// anchor is what exposes it.
func TestRollback(t *testing.T) {
	key := testKey(t)
	m := newMem()
	l, err := Open(m, key, Options{Now: clock()})
	if err != nil {
		t.Fatal(err)
	}
	l.Append(1, "a", nil)
	cp1, _ := l.Checkpoint()
	old := m.bytes()
	l.Append(1, "b", nil)
	cp2, _ := l.Checkpoint()
	l.Close()
	if _, err := verifyBytes(t, old, key, cp1); err != nil {
		t.Fatalf("old copy with its own anchor: %v", err)
	}
	if _, err := verifyBytes(t, old, key, cp2); !errors.Is(err, ErrTampered) {
		t.Fatalf("rollback not detected: %v", err)
	}
	forged := *cp2
	forged.Head[0] ^= 1
	if _, err := verifyBytes(t, m.bytes(), key, &forged); !errors.Is(err, ErrTampered) {
		t.Fatalf("anchor mismatch not detected: %v", err)
	}
}
