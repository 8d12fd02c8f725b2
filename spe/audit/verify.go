package audit

import (
	"crypto"
	"errors"
	"fmt"
	"io"
)

// VerifyOptions say what a log must satisfy besides its own consistency.
type VerifyOptions struct {
	// Anchor is the latest checkpoint the reader verified before. The log
	// must contain a checkpoint with the same count and head; otherwise it
	// has been truncated or rolled back. Without an anchor, a log cut back
	// to an earlier checkpoint is indistinguishable from an old one.
	Anchor *Checkpoint
}

// Report is what Verify found in an intact log.
type Report struct {
	Records     []Record
	Checkpoints int
	// Last is the latest checkpoint: keep it as the next Anchor.
	Last *Checkpoint
	// Unsealed counts the records after Last. They chain correctly but no
	// signature covers them yet, so an edit to them is not detectable.
	Unsealed int
	// TornBytes is the size of an incomplete frame at the end of the store:
	// an append cut off by a crash (never acknowledged), or a damaged tail.
	// Only an Anchor tells the two apart.
	TornBytes int64
	// Head is the chain head after the last record.
	Head [32]byte
}

// TamperError locates the first inconsistency in a store.
type TamperError struct {
	Offset int64  // byte offset of the frame at fault
	Seq    uint64 // the record sequence number expected there
	Reason string
	Err    error // the underlying cause, if any (e.g. ErrSignature)
}

func (e *TamperError) Error() string {
	return fmt.Sprintf("audit: log tampered with or corrupted at offset %d (record %d): %s", e.Offset, e.Seq, e.Reason)
}

func (e *TamperError) Unwrap() []error { return []error{ErrTampered, e.Err} }

// Verify reads a whole store of size bytes and checks that every frame is
// well formed, records are numbered 0, 1, 2... with no gap, every checkpoint
// sits right after the records it counts, chains to the recomputed head and
// carries a valid signature by pub, and opts.Anchor (if any) is present.
// An incomplete frame at the very end is reported in TornBytes, not as
// tampering. Any other inconsistency is a *TamperError.
func Verify(r io.ReaderAt, size int64, pub crypto.PublicKey, opts VerifyOptions) (*Report, error) {
	rep := &Report{}
	head := genesis
	var seq uint64
	anchorSeen := opts.Anchor == nil
	off := int64(0)
	for {
		f, err := readFrame(r, off, size)
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, errTorn) {
			if size-off > maxAppend {
				return nil, &TamperError{Offset: off, Seq: seq, Reason: fmt.Sprintf("%d bytes of incomplete frame at the end, more than one append writes", size-off)}
			}
			rep.TornBytes = size - off
			break
		}
		if err != nil {
			return nil, &TamperError{Offset: off, Seq: seq, Reason: err.Error()}
		}
		switch f.kind {
		case kindRecord:
			rec, err := unmarshalRecord(f.body)
			if err != nil {
				return nil, &TamperError{Offset: off, Seq: seq, Reason: err.Error()}
			}
			if rec.Seq != seq {
				return nil, &TamperError{Offset: off, Seq: seq, Reason: fmt.Sprintf("found record %d: records deleted, inserted or reordered", rec.Seq)}
			}
			head = chain(head, f.body)
			rep.Records = append(rep.Records, *rec)
			seq++
			rep.Unsealed++
		case kindCheckpoint:
			c, err := unmarshalCheckpoint(f.body)
			if err != nil {
				return nil, &TamperError{Offset: off, Seq: seq, Reason: err.Error()}
			}
			if c.Count != seq {
				return nil, &TamperError{Offset: off, Seq: seq, Reason: fmt.Sprintf("checkpoint counts %d records but follows %d", c.Count, seq)}
			}
			if c.Head != head {
				return nil, &TamperError{Offset: off, Seq: seq, Reason: fmt.Sprintf("records before this checkpoint do not chain to its head (edited, deleted or reordered among the first %d)", seq)}
			}
			if err := c.Verify(pub); err != nil {
				return nil, &TamperError{Offset: off, Seq: seq, Reason: err.Error(), Err: err}
			}
			if opts.Anchor != nil && c.Count == opts.Anchor.Count {
				if c.Head != opts.Anchor.Head {
					return nil, &TamperError{Offset: off, Seq: seq, Reason: "checkpoint differs from the anchor with the same count: the log was rewritten"}
				}
				anchorSeen = true
			}
			rep.Checkpoints++
			rep.Last = c
			rep.Unsealed = 0
		}
		off += f.size
	}
	rep.Head = head
	if !anchorSeen {
		return nil, &TamperError{Offset: off, Seq: seq, Reason: fmt.Sprintf("the anchor checkpoint over %d records is missing: the log was truncated or rolled back", opts.Anchor.Count)}
	}
	return rep, nil
}
