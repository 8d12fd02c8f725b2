package deviceproto_test

import (
	"errors"
	"testing"
	"time"

	. "rampart/deviceproto"
	"rampart/deviceproto/deviceprototest"
)

func transferOf() Transfer {
	return Transfer{ID: "transfer-1", Voucher: []byte{0x81, 0x40}, Ticket: []byte{0xd2}}
}

func TestTransferRoundTripAndRefusals(t *testing.T) {
	w := deviceprototest.New(t)
	other := deviceprototest.New(t)
	msg, bound, err := w.Signer.SignTransfer("dev-a", transferOf())
	if err != nil {
		t.Fatal(err)
	}
	if !IsTransfer(msg) || IsTransfer(w.Sign(t, "dev-a", w.Job)) {
		t.Fatal("IsTransfer does not tell a transfer from a job")
	}
	got, err := VerifyTransfer(msg, w.Policy())
	if err != nil || got.ID != "transfer-1" || got.Device != "dev-a" || len(got.Nonce) != 32 || got.Issued != bound.Issued {
		t.Fatalf("transfer: %+v %v", got, err)
	}
	// A job is never taken for a transfer, nor a transfer for a job.
	if _, err := VerifyTransfer(w.Sign(t, "dev-a", w.Job), w.Policy()); !errors.Is(err, ErrJobEnvelope) {
		t.Fatalf("a job verified as a transfer: %v", err)
	}
	if _, err := VerifyJob(msg, w.Policy()); !errors.Is(err, ErrJobEnvelope) {
		t.Fatalf("a transfer verified as a job: %v", err)
	}
	otherMsg, _, err := other.Signer.SignTransfer("dev-a", transferOf())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyTransfer(otherMsg, w.Policy()); !errors.Is(err, ErrJobSignature) {
		t.Fatalf("another fleet's transfer: %v", err)
	}
	forB, _, _ := w.Signer.SignTransfer("dev-b", transferOf())
	if _, err := VerifyTransfer(forB, w.Policy()); !errors.Is(err, ErrJobDevice) {
		t.Fatalf("transfer for another device: %v", err)
	}
	p := w.Policy()
	p.Now = p.Now.Add(DefaultJobTTL + time.Hour)
	if _, err := VerifyTransfer(msg, p); err == nil {
		t.Fatal("expired transfer accepted")
	}
	for i := range len(msg) {
		if _, err := VerifyTransfer(msg[:i], w.Policy()); err == nil {
			t.Fatalf("prefix of %d bytes accepted", i)
		}
	}
	if _, _, err := w.Signer.SignTransfer("dev-a", Transfer{ID: "x"}); !errors.Is(err, ErrTransfer) {
		t.Fatalf("transfer without voucher signed: %v", err)
	}
}

func FuzzVerifyTransfer(f *testing.F) {
	w := deviceprototest.New(f)
	msg, _, err := w.Signer.SignTransfer("dev-a", transferOf())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(msg)
	f.Fuzz(func(t *testing.T, b []byte) {
		IsTransfer(b)
		_, _ = VerifyTransfer(b, w.Policy())
	})
}
