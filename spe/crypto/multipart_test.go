package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"rampart/ipc"
	"rampart/psa"
)

func TestStreamingCMACMatchesOneShot(t *testing.T) {
	blk, _ := aes.NewCipher(bytes.Repeat([]byte{9}, 16))
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 80; n++ {
		msg := make([]byte, n)
		for i := range msg {
			msg[i] = byte(r.IntN(256))
		}
		want := cmac(blk, msg)
		h := newCMACHash(blk)
		for rest := msg; len(rest) > 0; {
			k := 1 + r.IntN(len(rest))
			h.Write(rest[:k])
			rest = rest[k:]
		}
		if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
			t.Fatalf("length %d: streaming CMAC differs", n)
		}
	}
}

func TestMultipartHashAndMAC(t *testing.T) {
	e := startSPE(t, "", nil)
	c := e.dial(t)
	msg := bytes.Repeat([]byte("multi-part "), 100)
	chunks := [][]byte{msg[:1], msg[1:17], msg[17:500], msg[500:]}

	op, err := c.HashSetup(psa.AlgSHA512)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range chunks {
		if err := op.Update(ch); err != nil {
			t.Fatal(err)
		}
	}
	want := sha512.Sum512(msg)
	if got, err := op.Finish(); err != nil || !bytes.Equal(got, want[:]) {
		t.Fatalf("hash finish: %v", err)
	}
	if err := op.Update(msg); !errors.Is(err, psa.ErrBadState) {
		t.Fatalf("update after finish: %v", err)
	}
	op, _ = c.HashSetup(psa.AlgSHA512)
	op.Update(msg)
	if err := op.Verify(want[:]); err != nil {
		t.Fatal(err)
	}
	op, _ = c.HashSetup(psa.AlgSHA512)
	if err := op.Verify(want[:]); !errors.Is(err, psa.ErrInvalidSignature) {
		t.Fatalf("verify of the wrong hash: %v", err)
	}

	for _, alg := range []psa.Algorithm{psa.AlgHMAC(psa.AlgSHA256), psa.AlgTruncatedMAC(psa.AlgCMAC, 8)} {
		typ := psa.KeyTypeHMAC
		if alg.Base() == psa.AlgCMAC.Base() {
			typ = psa.KeyTypeAES
		}
		id, err := c.GenerateKey(psa.KeyAttributes{Type: typ, Bits: 128, Usage: psa.UsageSignMessage | psa.UsageVerifyMessage, Algorithm: alg})
		if err != nil {
			t.Fatal(err)
		}
		one, err := c.MACCompute(id, alg, msg)
		if err != nil {
			t.Fatal(err)
		}
		sop, err := c.MACSignSetup(id, alg)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range chunks {
			sop.Update(ch)
		}
		if got, err := sop.SignFinish(); err != nil || !bytes.Equal(got, one) {
			t.Fatalf("alg 0x%08x: multi-part MAC %x, one-shot %x, %v", alg, got, one, err)
		}
		vop, _ := c.MACVerifySetup(id, alg)
		vop.Update(msg)
		if err := vop.VerifyFinish(one); err != nil {
			t.Fatalf("verify finish: %v", err)
		}
		vop, _ = c.MACVerifySetup(id, alg)
		if _, err := vop.SignFinish(); !errors.Is(err, psa.ErrBadState) {
			t.Fatalf("sign finish on a verify operation: %v", err)
		}
		vop.Abort()
		// Policy is checked at setup.
		ro, _ := c.GenerateKey(psa.KeyAttributes{Type: typ, Bits: 128, Usage: psa.UsageVerifyMessage, Algorithm: alg})
		if _, err := c.MACSignSetup(ro, alg); !errors.Is(err, psa.ErrNotPermitted) {
			t.Fatalf("sign setup without SIGN_MESSAGE: %v", err)
		}
	}

	// Operations belong to their connection and end with it.
	other := e.dial(t)
	op, _ = c.HashSetup(psa.AlgSHA256)
	var opNum uint32
	fmt.Sscanf(op.String(), "psa hash operation %d", &opNum)
	// The same client on another connection cannot touch it.
	raw, _ := e.srv.Local(-1)
	defer raw.Close()
	rep, err := raw.RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: psa.CryptoSID, Version: psa.CryptoVersion,
		Type: int32(psa.OpHashUpdate), In: [][]byte{binary.LittleEndian.AppendUint32(nil, opNum), []byte("x")}})
	if err != nil || rep.Status != ipc.ErrBadState {
		t.Fatalf("another connection updated operation %d: %v %v", opNum, rep.Status, err)
	}
	hop, _ := other.HashSetup(psa.AlgSHA256)
	if err := hop.Update(nil); err != nil {
		t.Fatal(err)
	}
	if n := e.svc.OpenOperations(); n != 2 {
		t.Fatalf("%d open operations, want 2", n)
	}
	other.Close()
	waitFor(t, "the closed connection's operations to end", func() bool { return e.svc.OpenOperations() == 1 })
	op.Abort()
	if n := e.svc.OpenOperations(); n != 0 {
		t.Fatalf("%d open operations after abort", n)
	}
}
