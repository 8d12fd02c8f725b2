package audit

import (
	"crypto"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Options configure a Log.
type Options struct {
	// Now is the log's clock; nil means time.Now.
	Now func() time.Time
	// CheckpointEvery signs a checkpoint after every n records (0: only
	// when Checkpoint or Close is called). It bounds how many records are
	// unsealed at any time.
	CheckpointEvery int
	// Anchor is the latest checkpoint the owner kept outside the store (in
	// trusted storage, from Head). With it, Open detects a store that was
	// truncated or rolled back instead of taking a damaged tail for a torn
	// append.
	Anchor *Checkpoint
}

// Log is an open audit log. Its methods are safe for concurrent use.
type Log struct {
	mu     sync.Mutex
	store  Backing
	signer crypto.Signer
	opts   Options
	size   int64    // bytes of valid frames in the store
	head   [32]byte // chain head after the last record
	seq    uint64   // the next record's sequence number
	last   *Checkpoint
	since  int // records since the last checkpoint
	failed error
	torn   int64
}

// Open reads and verifies the whole store with signer's public key, drops
// an incomplete frame at its end (an append cut off by a crash, never
// acknowledged), and returns a Log that continues the chain. A store that
// fails verification is not opened: appending to it would hide the damage.
func Open(store Backing, signer crypto.Signer, opts Options) (*Log, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CheckpointEvery < 0 {
		return nil, fmt.Errorf("audit: CheckpointEvery %d is negative", opts.CheckpointEvery)
	}
	st, err := store.Stat()
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	rep, err := Verify(store, st.Size(), signer.Public(), VerifyOptions{Anchor: opts.Anchor})
	if err != nil {
		return nil, err
	}
	l := &Log{store: store, signer: signer, opts: opts, size: st.Size() - rep.TornBytes, head: rep.Head, last: rep.Last, torn: rep.TornBytes}
	l.seq = uint64(len(rep.Records))
	l.since = rep.Unsealed
	if rep.TornBytes > 0 {
		if err := store.Truncate(l.size); err != nil {
			return nil, fmt.Errorf("audit: dropping a torn tail of %d bytes: %w", rep.TornBytes, err)
		}
		if err := store.Sync(); err != nil {
			return nil, fmt.Errorf("audit: dropping a torn tail of %d bytes: %w", rep.TornBytes, err)
		}
	}
	return l, nil
}

// TornBytes reports how many bytes of an incomplete final frame Open dropped.
func (l *Log) TornBytes() int64 { return l.torn }

// Append adds a record for client and returns it with its sequence number
// and time. It returns only once the record is durable; after an error the
// Log refuses further use (the store's state is unknown until reopened).
func (l *Log) Append(client int32, event string, data []byte) (Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed != nil {
		return Record{}, l.failed
	}
	r := Record{Seq: l.seq, Time: l.opts.Now().UTC(), Client: client, Event: event, Data: append([]byte(nil), data...)}
	if err := r.check(); err != nil {
		return Record{}, err
	}
	body := r.marshal()
	buf := appendFrame(nil, kindRecord, body)
	var cp *Checkpoint
	if l.opts.CheckpointEvery > 0 && l.since+1 >= l.opts.CheckpointEvery {
		// Seal in the same write and sync as the record.
		var err error
		if cp, err = l.newCheckpoint(l.seq+1, chain(l.head, body)); err != nil {
			return Record{}, err
		}
		buf = appendFrame(buf, kindCheckpoint, cp.marshal())
	}
	if err := l.write(buf); err != nil {
		return Record{}, err
	}
	l.head = chain(l.head, body)
	l.seq++
	l.since++
	if cp != nil {
		l.last, l.since = cp, 0
	}
	return r, nil
}

// Checkpoint signs the current head (unless the last checkpoint already
// covers it) and returns the latest checkpoint.
func (l *Log) Checkpoint() (*Checkpoint, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checkpointLocked()
}

func (l *Log) checkpointLocked() (*Checkpoint, error) {
	if l.failed != nil {
		return nil, l.failed
	}
	if l.last != nil && l.last.Count == l.seq {
		return l.last, nil
	}
	cp, err := l.newCheckpoint(l.seq, l.head)
	if err != nil {
		return nil, err
	}
	if err := l.write(appendFrame(nil, kindCheckpoint, cp.marshal())); err != nil {
		return nil, err
	}
	l.last, l.since = cp, 0
	return cp, nil
}

func (l *Log) newCheckpoint(count uint64, head [32]byte) (*Checkpoint, error) {
	cp := &Checkpoint{Count: count, Head: head, Time: l.opts.Now().UTC()}
	if err := cp.sign(l.signer); err != nil {
		return nil, err
	}
	return cp, nil
}

// write appends buf and syncs; any failure poisons the Log.
func (l *Log) write(buf []byte) error {
	if _, err := l.store.WriteAt(buf, l.size); err != nil {
		l.failed = fmt.Errorf("%w: write failed: %v", ErrClosed, err)
		return l.failed
	}
	if err := l.store.Sync(); err != nil {
		l.failed = fmt.Errorf("%w: sync failed: %v", ErrClosed, err)
		return l.failed
	}
	l.size += int64(len(buf))
	return nil
}

// Head returns the latest checkpoint (nil before the first) and the number
// of records.
func (l *Log) Head() (*Checkpoint, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last, l.seq
}

// Abandon closes the store without a final checkpoint and drops the signing
// key: decommissioning, where the store is being destroyed and nothing may
// be signed any more. Every later call fails with ErrClosed.
func (l *Log) Abandon() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	if l.store != nil {
		err = l.store.Close()
	}
	l.failed, l.store, l.signer = ErrClosed, nil, nil
	return err
}

// Close seals the log with a final checkpoint and closes the store.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if errors.Is(l.failed, ErrClosed) && l.store == nil {
		return nil
	}
	var err error
	if l.failed == nil {
		_, err = l.checkpointLocked()
	}
	if cerr := l.store.Close(); err == nil {
		err = cerr
	}
	l.failed = ErrClosed
	l.store = nil
	return err
}
