package ownership

import "testing"

// FuzzVerify feeds arbitrary bytes to the voucher parser and verifier: no
// panic, and nothing verifies unless every hop is signed along the chain
// (the only keys the fuzzer can reach are the seed's).
func FuzzVerify(f *testing.F) {
	ch := newChain(f)
	for _, v := range ch.v {
		f.Add(marshal(f, v))
	}
	f.Add([]byte{0x80})
	f.Add([]byte{0x81, 0x40})
	p := ch.policy()
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Parse(b)
		if err != nil {
			return
		}
		if again, err := v.Marshal(); err != nil || string(again) != string(b) {
			t.Fatalf("parse then marshal changed the bytes")
		}
		if _, got, err := Verify(b, p); err == nil {
			if !got.Owner.Equal(&ch.a.PublicKey) && !got.Owner.Equal(&ch.b.PublicKey) && !got.Owner.Equal(&ch.c.PublicKey) {
				t.Fatal("a voucher ending at an unknown owner verified")
			}
		}
	})
}

// FuzzVerifyTicket: no panic on any ticket bytes.
func FuzzVerifyTicket(f *testing.F) {
	k := newKey(f)
	seed, err := SignTicket(k, Ticket{Device: instance(1), Serial: 1, URL: "https://b.example", CACerts: [][]byte{caCert(f, k)}}, Signing{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte{0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = VerifyTicket(b, &k.PublicKey, instance(1), 1)
	})
}
