package rot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/go-tpm/tpm2/transport"
)

// Scheme prefixes a TPM root-of-trust spec: tpm:HOST:PORT (the data port
// of a swtpm or other TPM over TCP, raw TPM commands), tpm:unix:PATH, or
// tpm:/dev/tpmrm0 (the kernel's resource manager).
const Scheme = "tpm:"

// ioTimeout bounds one command: a TPM that does not answer does not hang the SPE.
const ioTimeout = 30 * time.Second

// maxResponse bounds a response (TPM2_MAX_COMMAND_SIZE of real TPMs is 4 KiB).
const maxResponse = 64 << 10

// framed sends raw TPM commands over a stream and reads exactly one
// response: its 10-byte header gives its size.
type framed struct {
	mu   sync.Mutex
	conn io.ReadWriteCloser
}

func (f *framed) Send(cmd []byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.conn.(interface{ SetDeadline(time.Time) error }); ok {
		d.SetDeadline(time.Now().Add(ioTimeout))
	}
	if _, err := f.conn.Write(cmd); err != nil {
		return nil, fmt.Errorf("rot: TPM: %w", err)
	}
	hdr := make([]byte, 10)
	if _, err := io.ReadFull(f.conn, hdr); err != nil {
		return nil, fmt.Errorf("rot: TPM response: %w", err)
	}
	size := binary.BigEndian.Uint32(hdr[2:6])
	if size < 10 || size > maxResponse {
		return nil, fmt.Errorf("rot: TPM response of %d bytes", size)
	}
	rsp := make([]byte, size)
	copy(rsp, hdr)
	if _, err := io.ReadFull(f.conn, rsp[10:]); err != nil {
		return nil, fmt.Errorf("rot: TPM response: %w", err)
	}
	return rsp, nil
}

func (f *framed) Close() error { return f.conn.Close() }

// dial opens the TPM a spec names.
func dial(spec string) (transport.TPMCloser, error) {
	if !strings.HasPrefix(spec, Scheme) {
		return nil, fmt.Errorf("rot: %q: want tpm:HOST:PORT, tpm:unix:PATH or tpm:/dev/tpmrm0", spec)
	}
	where := strings.TrimPrefix(spec, Scheme)
	switch {
	case strings.HasPrefix(where, "/dev/"):
		f, err := os.OpenFile(where, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("rot: %w", err)
		}
		// A character device answers a whole response per read; one
		// command at a time, as on the other transports.
		return &lockedTPM{t: transport.FromReadWriteCloser(f)}, nil
	case strings.HasPrefix(where, "unix:"):
		c, err := net.DialTimeout("unix", strings.TrimPrefix(where, "unix:"), ioTimeout)
		if err != nil {
			return nil, fmt.Errorf("rot: %w", err)
		}
		return &framed{conn: c}, nil
	case where == "":
		return nil, errors.New("rot: tpm: names no TPM")
	}
	c, err := net.DialTimeout("tcp", where, ioTimeout)
	if err != nil {
		return nil, fmt.Errorf("rot: %w", err)
	}
	return &framed{conn: c}, nil
}

// lockedTPM runs one command at a time on t: the SPE signs tokens for
// several clients at once, and a command's write and its response's read
// must not interleave with another's.
type lockedTPM struct {
	mu sync.Mutex
	t  transport.TPMCloser
}

func (l *lockedTPM) Send(cmd []byte) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.t.Send(cmd)
}

func (l *lockedTPM) Close() error { return l.t.Close() }
