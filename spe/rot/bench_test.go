package rot_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"rampart/attest"
	"rampart/spe/rot"
	"rampart/spe/rot/swtpmtest"
	"rampart/swcomponent"
)

func benchClaims() *attest.Claims {
	return &attest.Claims{Profile: attest.ProfileRFC9783, Nonce: bytes.Repeat([]byte{1}, 32), ImplementationID: bytes.Repeat([]byte{2}, 32),
		ClientID: -1, Lifecycle: attest.LifecycleSecured, BootSeed: bytes.Repeat([]byte{3}, 32),
		SoftwareComponents: []swcomponent.Component{{MeasurementType: "SPE", MeasurementValue: make([]byte, 32), Version: "1.0.0", SignerID: make([]byte, 32)}}}
}

// BenchmarkTPMRoot compares, in one run: the TPM's own signature
// (TPM2_Sign on a digest), a whole attestation token signed by the TPM and
// by an in-memory key (the file root), and deriving the sealing root in
// the TPM (TPM2_HMAC) against HKDF from a file HUK.
func BenchmarkTPMRoot(b *testing.B) {
	r, err := rot.Open(swtpmtest.Start(b).Spec)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Provision(); err != nil {
		b.Fatal(err)
	}
	iak, _ := r.IAK()
	fileKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d := sha256.Sum256([]byte("x"))
	huk := make([]byte, 32)
	for _, c := range []struct {
		name string
		op   func() error
	}{
		{"sign/TPM2_Sign", func() error { _, err := iak.Sign(nil, d[:], crypto.SHA256); return err }},
		{"token/tpm", func() error { _, err := attest.Sign(benchClaims(), iak, rand.Reader); return err }},
		{"token/file", func() error { _, err := attest.Sign(benchClaims(), fileKey, rand.Reader); return err }},
		{"sealing-root/tpm", func() error { _, err := r.Derive("rampart huk v1"); return err }},
		{"sealing-root/file", func() error {
			_, err := hkdf.Key(sha256.New, huk, nil, "rampart sealed x", 32)
			return err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if err := c.op(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTpm2Sign runs tpm2-tools' tpm2_sign with the same persistent
// key: one process per signature, as a shell script would use the TPM.
func BenchmarkTpm2Sign(b *testing.B) {
	if _, err := exec.LookPath("tpm2_sign"); err != nil {
		b.Skip("tpm2-tools not installed")
	}
	tp := swtpmtest.Start(b)
	r, err := rot.Open(tp.Spec)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := r.Provision(); err != nil {
		b.Fatal(err)
	}
	r.Close() // swtpm serves one connection at a time
	dir := b.TempDir()
	digest := filepath.Join(dir, "digest")
	d := sha256.Sum256([]byte("x"))
	os.WriteFile(digest, d[:], 0o600)
	tcti := "swtpm:host=127.0.0.1,port=" + strconv.Itoa(tp.DataPort)
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, "tpm2_sign", "-T", tcti, "-c", "0x81520002", "-g", "sha256", "-d", "-o", filepath.Join(dir, "sig"), digest).CombinedOutput()
		cancel()
		if err != nil {
			b.Fatalf("tpm2_sign: %v\n%s", err, out)
		}
	}
}
