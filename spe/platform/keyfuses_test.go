package platform_test

import (
	"bytes"
	"testing"

	"rampart/attest"
	"rampart/boot"
	"rampart/image"
	"rampart/spe/platform"
	"rampart/spe/provision"
)

// TestTokenCarriesKeyFuses: the attestation token of a device provisioned
// with a next release key carries the bootloader's key fuses (key 1
// pending), as the verifier reads them; fuses programmed later (the key
// activated, the first retiring) are in the next token.
func TestTokenCarriesKeyFuses(t *testing.T) {
	devDir, stateDir := newDevice(t)
	d, err := platform.OpenDevice(devDir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := platform.Open(platform.Options{StateDir: stateDir, LastBoot: &boot.Result{}})
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := image.MarshalPublicKeyPEM(&bootKey.PublicKey)
	next, _ := image.MarshalPublicKeyPEM(&mfrKey.PublicKey)
	res, err := provision.Run(p, provision.Options{ImplementationID: implID, BootKeys: [][]byte{cur}, NextBootKeys: [][]byte{next},
		DeviceDir: devDir, Manufacturer: mfrKey, Comment: "key fuses"})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	d.Close()
	list, _, err := provision.VerifyEndorsements(res.Signed, &mfrKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	p, dev := open(t, devDir, stateDir)
	nonce := bytes.Repeat([]byte{0x11}, 32)
	claims := func() *attest.Claims {
		t.Helper()
		tok, err := token(t, p, -1, nonce)
		if err != nil {
			t.Fatal(err)
		}
		c, err := attest.Verify(tok, attest.VerifyOptions{Lookup: list.Lookup, Nonce: nonce})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := claims()
	if c.KeyFuses == nil || *c.KeyFuses != (attest.KeyFuses{Pending: 0b10}) || c.KeyFuses.StatusList() != "1:pending" {
		t.Fatalf("key fuses in the token: %+v", c.KeyFuses)
	}
	// A rotation's first step, as the bootloader programs it.
	ctr := dev.Boot.Counters()
	ctr.KeyFuses.Activated, ctr.KeyFuses.Retiring = 0b10, 0b01
	c = claims()
	if c.KeyFuses == nil || c.KeyFuses.StatusList() != "0:retiring 1:active" {
		t.Fatalf("key fuses after the rotation: %+v", c.KeyFuses)
	}
}
