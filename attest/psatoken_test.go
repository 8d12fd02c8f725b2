package attest

import (
	"crypto/rand"
	"testing"

	"github.com/veraison/psatoken"
)

// TestVeraisonAcceptsRampartTokens checks Rampart's encoder against an
// independent implementation: Veraison's psatoken must decode, validate and
// verify the tokens Rampart signs in the legacy profiles (psatoken has no
// RFC 9783 profile), and read back the same claims.
func TestVeraisonAcceptsRampartTokens(t *testing.T) {
	key := tfmKey(t)
	for _, p := range []Profile{ProfileIoT1, ProfilePSA2} {
		t.Run(string(p), func(t *testing.T) {
			c := sampleClaims(p)
			if p == ProfileIoT1 {
				c.CertificationReference = "1234567890123" // plain EAN-13, legacy form
			}
			tok, err := Sign(c, key, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := psatoken.DecodeAndValidateEvidenceFromCOSE(tok)
			if err != nil {
				t.Fatalf("psatoken rejects the token: %v", err)
			}
			if err := ev.Verify(&key.PublicKey); err != nil {
				t.Fatalf("psatoken: signature: %v", err)
			}
			vc := ev.Claims
			prof, _ := vc.GetProfile()
			nonce, _ := vc.GetNonce()
			inst, _ := vc.GetInstID()
			impl, _ := vc.GetImplID()
			client, _ := vc.GetClientID()
			lc, _ := vc.GetSecurityLifeCycle()
			seed, _ := vc.GetBootSeed()
			cert, _ := vc.GetCertificationReference()
			vsi, _ := vc.GetVSI()
			wantID, _ := InstanceID(&key.PublicKey)
			if prof != string(p) || !equalBytes(nonce, c.Nonce) || !equalBytes(inst, wantID) ||
				!equalBytes(impl, c.ImplementationID) || client != c.ClientID || lc != uint16(c.Lifecycle) ||
				!equalBytes(seed, c.BootSeed) || cert != c.CertificationReference || vsi != c.VerificationService {
				t.Fatalf("psatoken read different claims: profile %q client %d lifecycle %#x cert %q", prof, client, lc, cert)
			}
			scs, err := vc.GetSoftwareComponents()
			if err != nil || len(scs) != len(c.SoftwareComponents) {
				t.Fatalf("psatoken software components: %d, %v", len(scs), err)
			}
			for i, s := range scs {
				mv, _ := s.GetMeasurementValue()
				sid, _ := s.GetSignerID()
				mt, _ := s.GetMeasurementType()
				ver, _ := s.GetVersion()
				want := c.SoftwareComponents[i]
				if !equalBytes(mv, want.MeasurementValue) || !equalBytes(sid, want.SignerID) || mt != want.MeasurementType || ver != want.Version {
					t.Fatalf("psatoken component %d differs", i)
				}
			}
		})
	}
}

// TestVeraisonTokensVerify is the converse: tokens built and signed by
// psatoken verify with Rampart.
func TestVeraisonTokensVerify(t *testing.T) {
	key := tfmKey(t)
	for _, name := range []string{psatoken.Profile1Name, psatoken.Profile2Name} {
		vc, err := psatoken.NewClaims(name)
		if err != nil {
			t.Fatal(err)
		}
		nonce := seq(48, 7)
		id, _ := InstanceID(&key.PublicKey)
		mt, mv, sid := "ARoT", seq(32, 1), seq(32, 2)
		steps := []error{
			vc.SetNonce(nonce), vc.SetInstID(id), vc.SetImplID(seq(32, 3)), vc.SetClientID(-7),
			vc.SetSecurityLifeCycle(0x4001), vc.SetBootSeed(seq(32, 4)),
			vc.SetSoftwareComponents([]psatoken.ISwComponent{&psatoken.SwComponent{MeasurementType: &mt, MeasurementValue: &mv, SignerID: &sid}}),
		}
		for i, err := range steps {
			if err != nil {
				t.Fatalf("%s: psatoken setter %d: %v", name, i, err)
			}
		}
		ev := psatoken.Evidence{}
		if err := ev.SetClaims(vc); err != nil {
			t.Fatal(err)
		}
		cs, err := newCoseSigner(key)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ev.ValidateAndSign(cs)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Verify(tok, VerifyOptions{Key: &key.PublicKey, Nonce: nonce})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if string(c.Profile) != name || c.ClientID != -7 || c.Lifecycle != 0x4001 || c.SoftwareComponents[0].MeasurementType != "ARoT" {
			t.Fatalf("%s: claims %+v", name, c)
		}
	}
}
