package deviceproto_test

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/veraison/go-cose"

	. "rampart/deviceproto"
	"rampart/deviceproto/deviceprototest"
)

// TestEveryKindRefusesTheSameEnvelopes: jobs, trust messages and transfer
// messages are decoded by one envelope decoder, so each kind refuses the
// same malformed envelopes, signed with the genuine job signer's key, with
// ErrJobEnvelope; and no kind accepts another kind's content type.
func TestEveryKindRefusesTheSameEnvelopes(t *testing.T) {
	w := deviceprototest.New(t)
	p := w.Policy()
	verifiers := map[string]func([]byte) error{
		JobContentType: func(b []byte) error { _, err := VerifyJob(b, p); return err },
		TrustContentType: func(b []byte) error {
			_, _, err := VerifyTrust(b, []*x509.Certificate{w.CA}, w.Device, w.Now)
			return err
		},
		TransferContentType: func(b []byte) error { _, err := VerifyTransfer(b, p); return err },
	}
	for ct, verify := range verifiers {
		seal := func(edit func(cose.ProtectedHeader)) []byte { return sealWith(t, w, ct, edit) }
		cases := map[string][]byte{
			"critical header": seal(func(h cose.ProtectedHeader) { h[cose.HeaderLabelCritical] = []any{int64(99)}; h[int64(99)] = 1 }),
			"EdDSA algorithm": seal(func(h cose.ProtectedHeader) { h.SetAlgorithm(cose.AlgorithmEdDSA) }),
			"no x5chain":      seal(func(h cose.ProtectedHeader) { delete(h, cose.HeaderLabelX5Chain) }),
			"x5chain garbage": seal(func(h cose.ProtectedHeader) { h[cose.HeaderLabelX5Chain] = []byte{0x30, 0x03, 1, 2, 3} }),
			"untagged":        seal(func(cose.ProtectedHeader) {})[1:],
		}
		for other := range verifiers {
			if other != ct {
				cases["content type "+other] = seal(func(h cose.ProtectedHeader) { h[cose.HeaderLabelContentType] = other })
			}
		}
		for name, msg := range cases {
			if err := verify(msg); !errors.Is(err, ErrJobEnvelope) {
				t.Errorf("%s, %s: %v, want ErrJobEnvelope", ct, name, err)
			}
		}
	}
}

// sealWith makes a message of content type ct with an empty-object
// payload, signed by the genuine job signer, then edits its protected
// header after signing: only the envelope can be wrong.
func sealWith(t *testing.T, w *deviceprototest.Fleet, ct string, edit func(cose.ProtectedHeader)) []byte {
	t.Helper()
	signer, err := cose.NewSigner(cose.AlgorithmES256, w.Signer.Key)
	if err != nil {
		t.Fatal(err)
	}
	msg := cose.NewSign1Message()
	msg.Headers.Protected.SetAlgorithm(cose.AlgorithmES256)
	msg.Headers.Protected[cose.HeaderLabelContentType] = ct
	msg.Headers.Protected[cose.HeaderLabelX5Chain] = w.Signer.Cert.Raw
	msg.Payload = []byte(`{}`)
	if err := msg.Sign(rand.Reader, nil, signer); err != nil {
		t.Fatal(err)
	}
	edit(msg.Headers.Protected)
	msg.Headers.RawProtected = nil
	b, err := msg.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
