package attestation_test

import (
	"bytes"
	"crypto/elliptic"
	"testing"

	"github.com/veraison/psatoken"

	"rampart/psa"
)

// TestVeraisonAcceptsSPETokens: an independent verifier (Veraison's
// psatoken, which knows the legacy profile only) decodes, validates and
// verifies the PSA_IOT_PROFILE_1 tokens the SPE makes, and reads the
// caller's client ID and the boot measurement from them.
func TestVeraisonAcceptsSPETokens(t *testing.T) {
	r := newRig(t, elliptic.P256())
	tok, err := r.c.TokenProfile(nonce32, psa.AttestProfileIoT1)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := psatoken.DecodeAndValidateEvidenceFromCOSE(tok)
	if err != nil {
		t.Fatalf("psatoken rejects the SPE's token: %v", err)
	}
	if err := ev.Verify(r.pub); err != nil {
		t.Fatalf("psatoken: signature: %v", err)
	}
	client, _ := ev.Claims.GetClientID()
	nonce, _ := ev.Claims.GetNonce()
	scs, err := ev.Claims.GetSoftwareComponents()
	if err != nil || len(scs) != 1 || client != -5 || !bytes.Equal(nonce, nonce32) {
		t.Fatalf("psatoken read client %d, %d components (%v)", client, len(scs), err)
	}
	mv, _ := scs[0].GetMeasurementValue()
	if !bytes.Equal(mv, records[0].MeasurementValue) {
		t.Fatal("psatoken read another measurement")
	}
}
