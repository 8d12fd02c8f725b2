package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"

	"rampart/deviceproto"
	"rampart/ipc"
)

// ErrFatal marks an error that retrying will not cure: a refused
// enrollment, an image that fails its checks, a job that is malformed.
var ErrFatal = errors.New("agent: fatal")

// fatal wraps err so that IsFatal reports true.
func fatal(err error) error {
	if err == nil {
		return nil
	}
	return &fatalError{err: err}
}

type fatalError struct {
	err  error
	hint string // what fixes it, when known
}

// fatalHint is fatal with what an operator must do about err.
func fatalHint(err error, hint string) error {
	return &fatalError{err: err, hint: hint}
}

// Hint returns what fixes a fatal error, or "" when the agent does not know.
func Hint(err error) string {
	var f *fatalError
	if errors.As(err, &f) {
		return f.hint
	}
	return ""
}

// permanentSPE classifies an error of the SPE: it returns what fixes it when
// retrying cannot (the SPE answered, and its answer will not change until an
// operator acts), and "" for a transient one (the SPE restarting, busy or
// short of memory, a broken connection).
func permanentSPE(err error) string {
	var st ipc.Status
	if !errors.As(err, &st) {
		return ""
	}
	switch st {
	case ipc.ErrServiceFailure:
		return "the SPE cannot make an attestation token; its log says why. With \"no boot measurements\", start rampart spe serve with --device DIR (the bootloader device); when not provisioned, run rampart spe provision"
	case ipc.ErrBadState:
		return "the device's lifecycle state allows no attestation tokens: rampart spe lifecycle shows it"
	case ipc.ErrNotPermitted, ipc.ErrConnectionRefused:
		return "the SPE refused this client: add a client rule for the agent's uid to the SPE configuration"
	case ipc.ErrNotSupported, ipc.ErrDoesNotExist:
		return "the SPE does not offer this service: run rampart spe serve (not a subset of its services)"
	}
	return ""
}

// permanentTLS classifies a TLS error: a server whose certificate this
// agent cannot verify will not become verifiable by retrying.
func permanentTLS(err error) string {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		return "--ca must be the fleet CA certificate the server printed at start (its data_dir/ca.crt)"
	case errors.As(err, &he):
		return "the server's certificate does not name the host dialled: use the host name it was issued for, or --server-name"
	case errors.As(err, &ci):
		return "the server's certificate is not valid now (expired, or this device's clock is wrong)"
	}
	return ""
}

func (e *fatalError) Error() string        { return e.err.Error() }
func (e *fatalError) Unwrap() []error      { return []error{e.err, ErrFatal} }
func (e *fatalError) Is(target error) bool { return target == ErrFatal }

// IsFatal reports whether err should not be retried. Enrollment refusals
// are fatal except those a fresh attempt can cure (an expired or reused
// nonce, a server-side failure).
func IsFatal(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrFatal) {
		return true
	}
	var r *deviceproto.Refusal
	return errors.As(err, &r) && !r.Code.Retryable()
}

// Backoff is an exponential backoff with full jitter.
type Backoff struct {
	Base time.Duration // first delay (default 200ms)
	Max  time.Duration // cap (default 30s)
	// Attempts bounds the tries of one operation (default 8); 0 < n.
	Attempts int
}

func (b Backoff) withDefaults() Backoff {
	if b.Base <= 0 {
		b.Base = 200 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 30 * time.Second
	}
	if b.Attempts <= 0 {
		b.Attempts = 8
	}
	return b
}

// delay returns the wait before attempt n (0-based) with full jitter drawn
// from r: uniform in [0, d] where d = min(Max, Base*2^n). Full jitter
// spreads the devices of a node that went away over the whole window
// instead of bunching them at its end.
func (b Backoff) delay(n int, r io.Reader) time.Duration {
	d := b.Base
	for i := 0; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	var x [8]byte
	if _, err := io.ReadFull(r, x[:]); err != nil {
		return d
	}
	v := uint64(x[0]) | uint64(x[1])<<8 | uint64(x[2])<<16 | uint64(x[3])<<24 | uint64(x[4])<<32 | uint64(x[5])<<40
	return time.Duration(v % (uint64(d) + 1))
}

// retry runs op until it succeeds, fails fatally, ctx ends or the attempts
// run out. what names the operation in the error.
func retry(ctx context.Context, b Backoff, r io.Reader, what string, op func() error) error {
	b = b.withDefaults()
	var err error
	for n := 0; n < b.Attempts; n++ {
		if err = op(); err == nil || IsFatal(err) {
			return err
		}
		if n == b.Attempts-1 {
			break
		}
		t := time.NewTimer(b.delay(n, r))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("agent: %s: %w (last error: %v)", what, ctx.Err(), err)
		case <-t.C:
		}
	}
	return fmt.Errorf("agent: %s: %d attempts: %w", what, b.Attempts, err)
}
