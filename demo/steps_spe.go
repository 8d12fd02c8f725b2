package demo

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"

	"rampart/attest"
	"rampart/boot"
	"rampart/flash"
	"rampart/image"
	"rampart/psaclient"
	"rampart/spe"
	"rampart/spe/platform"
	"rampart/spe/provision"
	"rampart/spe/seqdiagram"
)

// speDemo is what the SPE steps hand to each other.
type speDemo struct {
	devDir, stateDir string
	endorsements     *attest.EndorsementList
	endorsementPath  string
	dev              *boot.Device
	p                *platform.Platform
}

func (d *speDemo) close() {
	if d.p != nil {
		d.p.Close()
		d.p = nil
	}
	if d.dev != nil {
		d.dev.Close()
		d.dev = nil
	}
}

// speSteps provision an in-process SPE, boot the signed v1 image and attest it.
func speSteps() []Step {
	d := &speDemo{}
	return []Step{
		{"Factory: create the device's flash (bootloader, primary and secondary slots) and install signed v1", d.stepDevice},
		{"Factory: provision the SPE (HUK and attestation key made inside it, boot key installed, lifecycle secured, endorsement signed)", d.stepProvision},
		{"Power on: the bootloader verifies v1 and measures it; the SPE starts with every service", d.stepBoot},
		{"Attest: a token over the verifier's nonce verifies with the endorsement, and its software component is v1", d.stepAttest},
	}
}

func (d *speDemo) stepDevice(s *State) (string, error) {
	v1 := s.images["v1"]
	if v1 == nil {
		return "", errors.New("no v1 image: the signing step failed")
	}
	cfg := &boot.Config{
		Flash:      flash.Geometry{Sectors: []flash.SectorRun{{Size: 0x1000, Count: 8 + 2*slotSize/0x1000}}, WriteAlign: 8, ErasedValue: 0xff},
		Strategy:   boot.SwapMove,
		Bootloader: boot.Area{Offset: 0, Size: 0x8000},
		Images: []boot.ImageSlots{{ID: 0, Name: "SPE",
			Primary:   boot.Area{Offset: 0x8000, Size: slotSize},
			Secondary: boot.Area{Offset: 0x8000 + slotSize, Size: slotSize}}},
	}
	// swap-move needs one spare sector in the primary slot.
	cfg.Flash.Sectors[0].Count++
	cfg.Images[0].Primary.Size += 0x1000
	cfg.Images[0].Secondary.Offset += 0x1000
	if err := cfg.Validate(); err != nil {
		return "", err
	}
	d.devDir = filepath.Join(s.opts.Dir, "device")
	d.stateDir = filepath.Join(s.opts.Dir, "spe-state")
	dev, err := boot.CreateDevice(d.devDir, cfg, nil, 0)
	if err != nil {
		return "", err
	}
	defer dev.Close()
	if err := dev.Boot.Install(0, boot.Primary, v1); err != nil {
		return "", err
	}
	return fmt.Sprintf("device %s: %d-byte flash, v1 in the primary slot; no boot key yet (provisioning installs it)", d.devDir, dev.Flash.Size()), nil
}

func (d *speDemo) stepProvision(s *State) (string, error) {
	if d.devDir == "" || s.signKey == nil {
		return "", errors.New("no device or signing key: an earlier step failed")
	}
	mfr, err := ecdsa.GenerateKey(elliptic.P256(), s.rand)
	if err != nil {
		return "", err
	}
	bootPub, err := image.MarshalPublicKeyPEM(s.signKey.Public())
	if err != nil {
		return "", err
	}
	p, err := platform.Open(platform.Options{StateDir: d.stateDir, Rand: s.rand})
	if err != nil {
		return "", err
	}
	defer p.Close()
	impl := bytes.Repeat([]byte{0x52}, attest.ImplementationIDLen) // "R"
	res, err := provision.Run(p, provision.Options{ImplementationID: impl, BootKeys: [][]byte{bootPub},
		DeviceDir: d.devDir, Manufacturer: mfr, ManufacturerName: "rampart demo", Comment: "rampart demo device", Rand: s.rand})
	if err != nil {
		return "", err
	}
	if d.endorsementPath, err = s.write("spe/endorsement.json", res.List); err != nil {
		return "", err
	}
	cosePath, err := s.write("spe/endorsement.json.cose", res.Signed)
	if err != nil {
		return "", err
	}
	// The fleet side: check the manufacturer's signature before trusting the list.
	signed, err := attest.VerifySignedEndorsements(res.Signed, &mfr.PublicKey)
	if err != nil {
		return "", err
	}
	d.endorsements = signed.List
	return fmt.Sprintf("lifecycle %s\ninstance ID %x\nendorsement %s\nsigned endorsement %s (COSE_Sign1, kid %q): what `rampart fleet endorsements import` takes as it is",
		p.Lifecycle.State(), res.Endorsement.InstanceID, d.endorsementPath, cosePath, signed.KeyID), nil
}

func (d *speDemo) stepBoot(s *State) (string, error) {
	if d.endorsements == nil {
		return "", errors.New("device not provisioned: an earlier step failed")
	}
	dev, err := platform.OpenDevice(d.devDir)
	if err != nil {
		return "", err
	}
	p, err := platform.Open(platform.Options{StateDir: d.stateDir, Device: dev, Rand: s.rand})
	if err != nil {
		dev.Close()
		return "", err
	}
	d.dev, d.p = dev, p
	recs := p.LastBoot().Records()
	if len(recs) != 1 {
		d.close()
		return "", fmt.Errorf("%d boot records, want 1", len(recs))
	}
	return fmt.Sprintf("booted %s %s, measurement %x", recs[0].MeasurementType, recs[0].Version, recs[0].MeasurementValue), nil
}

func (d *speDemo) stepAttest(s *State) (string, error) {
	defer d.close()
	if d.p == nil {
		return "", errors.New("the SPE is not running: an earlier step failed")
	}
	nonce := make([]byte, 32)
	if _, err := s.rand.Read(nonce); err != nil {
		return "", err
	}
	l, err := d.p.Server.Local(-1)
	if err != nil {
		return "", err
	}
	c := psaclient.NewAttestation(l)
	defer c.Close()
	d.p.Server.StartTrace(0) // the hybrid thread of this attestation, drawn below
	tok, err := c.Token(nonce)
	d.p.Server.StopTrace()
	if err != nil {
		return "", err
	}
	diagram, err := d.drawTrace(s)
	if err != nil {
		return "", err
	}
	path, err := s.write("spe/token.cbor", tok)
	if err != nil {
		return "", err
	}
	claims, err := attest.Verify(tok, attest.VerifyOptions{Lookup: d.endorsements.Lookup, Nonce: nonce})
	if err != nil {
		return "", err
	}
	_, v, err := image.Verify(s.images["v1"], s.signKey.Public())
	if err != nil {
		return "", err
	}
	if len(claims.SoftwareComponents) != 1 || !bytes.Equal(claims.SoftwareComponents[0].MeasurementValue, v.Digest) {
		return "", errors.New("the token's software component is not the v1 image")
	}
	signer, err := image.KeyHash(s.signKey.Public(), image.SHA256)
	if err != nil {
		return "", err
	}
	if !bytes.Equal(claims.SoftwareComponents[0].SignerID, signer) {
		return "", errors.New("the token's signer ID is not the manufacturer's firmware key")
	}
	// The same token must not verify for another nonce.
	other := append([]byte(nil), nonce...)
	other[0] ^= 1
	if _, err := attest.Verify(tok, attest.VerifyOptions{Lookup: d.endorsements.Lookup, Nonce: other}); !errors.Is(err, attest.ErrNonce) {
		return "", fmt.Errorf("token accepted for another nonce: %v", err)
	}
	return fmt.Sprintf("token %s (%d bytes, %s), client %d, lifecycle %s\nsoftware component: v1 digest %s\nverify it yourself: rampart attest verify --endorsements %s --nonce %s %s\nthe call as a sequence diagram (traced by the partition manager): %s",
		path, len(tok), claims.Profile, claims.ClientID, claims.Lifecycle, hex.EncodeToString(v.Digest[:8])+"...",
		d.endorsementPath, hex.EncodeToString(nonce), path, diagram), nil
}

// drawTrace writes the SPE's trace of the attestation as a sequence
// diagram (SVG and Mermaid), as `rampart spe trace render` would.
func (d *speDemo) drawTrace(s *State) (string, error) {
	events, _, _ := d.p.Server.Trace(0, spe.DefaultTraceCapacity)
	if len(events) == 0 {
		return "", errors.New("the partition manager traced no call")
	}
	dg := seqdiagram.Build(events)
	svg, err := s.write("spe/attest-sequence.svg", []byte(dg.SVG()))
	if err != nil {
		return "", err
	}
	if _, err := s.write("spe/attest-sequence.mmd", []byte(dg.Mermaid())); err != nil {
		return "", err
	}
	return svg + " (Mermaid: attest-sequence.mmd)", nil
}
