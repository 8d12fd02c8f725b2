package ownership

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"
)

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func instance(b byte) []byte { return append([]byte{0x01}, bytes.Repeat([]byte{b}, 32)...) }

// chain is a device's voucher through maker -> a -> b -> c.
type chain struct {
	maker, a, b, c *ecdsa.PrivateKey
	dev            []byte
	v              []*Voucher // v[0] names a, v[1] b, v[2] c
}

func newChain(t testing.TB) *chain {
	t.Helper()
	ch := &chain{maker: newKey(t), a: newKey(t), b: newKey(t), c: newKey(t), dev: instance(7)}
	v, err := Issue(ch.maker, ch.dev, &ch.a.PublicKey, Signing{Name: "maker"})
	if err != nil {
		t.Fatal(err)
	}
	ch.v = append(ch.v, v)
	for _, step := range []struct{ from, to *ecdsa.PrivateKey }{{ch.a, ch.b}, {ch.b, ch.c}} {
		if v, err = Extend(v, step.from, &step.to.PublicKey, Signing{}); err != nil {
			t.Fatal(err)
		}
		ch.v = append(ch.v, v)
	}
	return ch
}

func (ch *chain) policy() Policy {
	return Policy{Manufacturers: map[string]*ecdsa.PublicKey{"maker": &ch.maker.PublicKey}, Device: ch.dev}
}

func marshal(t testing.TB, v *Voucher) []byte {
	t.Helper()
	b, err := v.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestChainVerifies(t *testing.T) {
	ch := newChain(t)
	for i, owner := range []*ecdsa.PrivateKey{ch.a, ch.b, ch.c} {
		p := ch.policy()
		p.Owner = &owner.PublicKey
		v, got, err := Verify(marshal(t, ch.v[i]), p)
		if err != nil {
			t.Fatalf("voucher to owner %d: %v", i, err)
		}
		if got.Manufacturer != "maker" || got.Serial != uint64(i+1) || !got.Owner.Equal(&owner.PublicKey) || len(v.Hops) != i+1 {
			t.Fatalf("voucher %d: %+v", i, got)
		}
	}
	// The seller check: c bought from b.
	p := ch.policy()
	p.Owner, p.Via = &ch.c.PublicKey, &ch.b.PublicKey
	if _, _, err := Verify(marshal(t, ch.v[2]), p); err != nil {
		t.Fatal(err)
	}
	p.Via = &ch.a.PublicKey
	if _, _, err := Verify(marshal(t, ch.v[2]), p); !errors.Is(err, ErrOwner) {
		t.Fatalf("c from a: %v, want ErrOwner", err)
	}
}

func TestRoundTrip(t *testing.T) {
	ch := newChain(t)
	b := marshal(t, ch.v[2])
	v, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if again := marshal(t, v); !bytes.Equal(again, b) {
		t.Fatal("parse(marshal(v)) changed the voucher")
	}
	for i := range v.Hops {
		if !bytes.Equal(v.Hops[i].Owner, ch.v[2].Hops[i].Owner) || v.Hops[i].Serial != ch.v[2].Hops[i].Serial {
			t.Fatalf("hop %d differs after a round trip", i)
		}
	}
}

func TestForgedSignatureRefused(t *testing.T) {
	ch := newChain(t)
	thief := newKey(t)
	// A hop that claims to come from a but is signed by the thief.
	forged := &Voucher{Raw: ch.v[0].Raw, Hops: ch.v[0].Hops, KeyIDs: ch.v[0].KeyIDs}
	hop := Hop{Device: ch.dev, Serial: 2, Prev: hopHash(ch.v[0].Raw[0])}
	forged, err := appendHop(forged, thief, hop, &thief.PublicKey, Signing{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Verify(marshal(t, forged), ch.policy()); !errors.Is(err, ErrSignature) {
		t.Fatalf("forged hop: %v, want ErrSignature", err)
	}
	// Hop 0 signed by an unknown manufacturer.
	fake, err := Issue(thief, ch.dev, &thief.PublicKey, Signing{Name: "maker"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Verify(marshal(t, fake), ch.policy()); !errors.Is(err, ErrSignature) {
		t.Fatalf("forged hop 0: %v, want ErrSignature", err)
	}
	// Extend refuses a key that does not own the device.
	if _, err := Extend(ch.v[1], thief, &thief.PublicKey, Signing{}); !errors.Is(err, ErrOwner) {
		t.Fatalf("extend by a non-owner: %v, want ErrOwner", err)
	}
}

func TestOtherDeviceRefused(t *testing.T) {
	ch := newChain(t)
	p := ch.policy()
	p.Device = instance(8)
	if _, _, err := Verify(marshal(t, ch.v[2]), p); !errors.Is(err, ErrDevice) {
		t.Fatalf("voucher for another device: %v, want ErrDevice", err)
	}
}

func TestSkippedHopRefused(t *testing.T) {
	ch := newChain(t)
	full := ch.v[2]
	skipped := &Voucher{Raw: [][]byte{full.Raw[0], full.Raw[2]}}
	if _, _, err := Verify(marshal(t, skipped), ch.policy()); !errors.Is(err, ErrChain) {
		t.Fatalf("skipped hop: %v, want ErrChain", err)
	}
	reordered := &Voucher{Raw: [][]byte{full.Raw[0], full.Raw[2], full.Raw[1]}}
	if _, _, err := Verify(marshal(t, reordered), ch.policy()); !errors.Is(err, ErrChain) {
		t.Fatalf("reordered hops: %v, want ErrChain", err)
	}
	// A hop from another device's chain, even with the same owners.
	other := newChain(t)
	spliced := &Voucher{Raw: [][]byte{full.Raw[0], other.v[1].Raw[1]}}
	if _, _, err := Verify(marshal(t, spliced), ch.policy()); err == nil {
		t.Fatal("a hop of another chain was accepted")
	}
}

func TestReplayRefused(t *testing.T) {
	ch := newChain(t)
	p := ch.policy()
	p.After = 2 // the verifier already accepted serial 2 (the voucher to b)
	if _, _, err := Verify(marshal(t, ch.v[1]), p); !errors.Is(err, ErrReplayed) {
		t.Fatalf("old voucher: %v, want ErrReplayed", err)
	}
	if _, _, err := Verify(marshal(t, ch.v[2]), p); err != nil {
		t.Fatalf("newer voucher: %v", err)
	}
}

func TestWrongOwnerRefused(t *testing.T) {
	ch := newChain(t)
	p := ch.policy()
	p.Owner = &ch.b.PublicKey
	if _, _, err := Verify(marshal(t, ch.v[2]), p); !errors.Is(err, ErrOwner) {
		t.Fatalf("chain to c checked for b: %v, want ErrOwner", err)
	}
}

func TestEveryPrefixAndFlipRefused(t *testing.T) {
	ch := newChain(t)
	b := marshal(t, ch.v[2])
	p := ch.policy()
	for n := range len(b) {
		if _, _, err := Verify(b[:n], p); err == nil {
			t.Fatalf("prefix of %d of %d bytes accepted", n, len(b))
		}
	}
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x01
		if _, _, err := Verify(c, p); err == nil {
			t.Fatalf("byte %d flipped: accepted", i)
		}
	}
	if _, _, err := Verify(append(bytes.Clone(b), 0), p); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

func caCert(t testing.TB, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fleet B CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestTicket(t *testing.T) {
	ch := newChain(t)
	tk := Ticket{Device: ch.dev, Serial: 3, URL: "https://fleet-c.example:8443", CACerts: [][]byte{caCert(t, newKey(t))}}
	b, err := SignTicket(ch.c, tk, Signing{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyTicket(b, &ch.c.PublicKey, ch.dev, 3)
	if err != nil || got.URL != tk.URL {
		t.Fatalf("ticket: %v %+v", err, got)
	}
	if _, err := VerifyTicket(b, &ch.b.PublicKey, ch.dev, 3); !errors.Is(err, ErrSignature) {
		t.Fatalf("ticket by another owner: %v", err)
	}
	if _, err := VerifyTicket(b, &ch.c.PublicKey, instance(9), 3); !errors.Is(err, ErrDevice) {
		t.Fatalf("ticket for another device: %v", err)
	}
	if _, err := VerifyTicket(b, &ch.c.PublicKey, ch.dev, 2); !errors.Is(err, ErrChain) {
		t.Fatalf("ticket of another serial: %v", err)
	}
	for n := range len(b) {
		if _, err := VerifyTicket(b[:n], &ch.c.PublicKey, ch.dev, 3); err == nil {
			t.Fatalf("ticket prefix %d accepted", n)
		}
	}
	tk.URL = "http://fleet-c.example"
	if _, err := SignTicket(ch.c, tk, Signing{}); !errors.Is(err, ErrFormat) {
		t.Fatalf("http ticket signed: %v", err)
	}
}
