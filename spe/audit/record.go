package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Record is one audit event.
type Record struct {
	Seq    uint64    // position in the log, from 0; set by Append
	Time   time.Time // when it was appended (the log's clock)
	Client int32     // the caller's PSA client ID (< 0 non-secure, > 0 secure)
	Event  string    // what happened, e.g. "key.destroy"; 1..MaxEventLen bytes
	Data   []byte    // event details; at most MaxDataLen bytes
}

// Limits on a record's fields.
const (
	MaxEventLen = 255
	MaxDataLen  = 64 << 10
)

var (
	// ErrRecord: a record to append is malformed.
	ErrRecord = errors.New("audit: bad record")
	// ErrTampered: the backing store does not match its chain or checkpoints.
	ErrTampered = errors.New("audit: log tampered with or corrupted")
	// ErrClosed: the log is closed, or failed and must be reopened.
	ErrClosed = errors.New("audit: log closed or failed")
)

func (r *Record) check() error {
	if len(r.Event) == 0 || len(r.Event) > MaxEventLen {
		return fmt.Errorf("%w: event is %d bytes, want 1..%d", ErrRecord, len(r.Event), MaxEventLen)
	}
	if len(r.Data) > MaxDataLen {
		return fmt.Errorf("%w: data is %d bytes, limit %d", ErrRecord, len(r.Data), MaxDataLen)
	}
	return nil
}

// Record body: seq u64 | time (Unix ns) i64 | client i32 | event len u8 |
// event | data len u32 | data, big-endian.
const recordFixed = 8 + 8 + 4 + 1 + 4

func (r *Record) marshal() []byte {
	b := make([]byte, 0, recordFixed+len(r.Event)+len(r.Data))
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.UnixNano()))
	b = binary.BigEndian.AppendUint32(b, uint32(r.Client))
	b = append(b, byte(len(r.Event)))
	b = append(b, r.Event...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Data)))
	return append(b, r.Data...)
}

func unmarshalRecord(b []byte) (*Record, error) {
	if len(b) < recordFixed {
		return nil, fmt.Errorf("record of %d bytes, shorter than %d", len(b), recordFixed)
	}
	r := &Record{
		Seq:    binary.BigEndian.Uint64(b),
		Time:   time.Unix(0, int64(binary.BigEndian.Uint64(b[8:]))).UTC(),
		Client: int32(binary.BigEndian.Uint32(b[16:])),
	}
	n := int(b[20])
	rest := b[21:]
	if n == 0 || len(rest) < n+4 {
		return nil, fmt.Errorf("record event length %d does not fit", n)
	}
	r.Event = string(rest[:n])
	rest = rest[n:]
	d := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	if d > MaxDataLen || uint64(len(rest)) != uint64(d) {
		return nil, fmt.Errorf("record data length %d does not match the %d bytes left", d, len(rest))
	}
	r.Data = append([]byte(nil), rest...)
	return r, nil
}
