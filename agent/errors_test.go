package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"rampart/deviceproto"
)

func TestBackoffBounds(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Max: time.Second}.withDefaults()
	for n := range 10 {
		want := min(b.Base<<n, b.Max)
		for range 50 {
			d := b.delay(n, rand.Reader)
			if d < 0 || d > want {
				t.Fatalf("attempt %d: delay %v outside [0, %v]", n, d, want)
			}
		}
	}
	// Deterministic with an injected source.
	if b.delay(3, bytes.NewReader(make([]byte, 8))) != 0 {
		t.Fatal("zero jitter is not the lower bound")
	}
	if b.delay(3, bytes.NewReader([]byte{0x90, 0x01, 0x00, 0x00, 0x00, 0x00, 0, 0})) != 400 {
		t.Fatal("the draw is not taken modulo the cap + 1")
	}
}

func TestIsFatal(t *testing.T) {
	if !IsFatal(fatal(errors.New("x"))) || !errors.Is(fatal(errors.New("x")), ErrFatal) {
		t.Fatal("fatal is not fatal")
	}
	if IsFatal(errors.New("connection refused")) || IsFatal(nil) {
		t.Fatal("a plain error is fatal")
	}
	if !IsFatal(&deviceproto.Refusal{Code: deviceproto.CodeBadSignature}) || IsFatal(&deviceproto.Refusal{Code: deviceproto.CodeNonceUnknown}) {
		t.Fatal("refusal classification")
	}
}

func TestRetry(t *testing.T) {
	n := 0
	err := retry(context.Background(), Backoff{Base: time.Millisecond, Max: 2 * time.Millisecond, Attempts: 4}, rand.Reader, "op", func() error {
		n++
		if n < 3 {
			return errors.New("transient")
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("retry: %v after %d", err, n)
	}
	n = 0
	err = retry(context.Background(), Backoff{Base: time.Millisecond, Attempts: 4}, rand.Reader, "op", func() error { n++; return fatal(errors.New("no")) })
	if !IsFatal(err) || n != 1 {
		t.Fatalf("fatal retried: %v after %d", err, n)
	}
	n = 0
	err = retry(context.Background(), Backoff{Base: time.Millisecond, Max: time.Millisecond, Attempts: 3}, rand.Reader, "op", func() error { n++; return errors.New("down") })
	if err == nil || n != 3 {
		t.Fatalf("attempts: %v after %d", err, n)
	}
}
