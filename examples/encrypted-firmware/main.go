// Command encrypted-firmware shows firmware IP protection with encrypted
// MCUboot images: the manufacturer signs the firmware and encrypts its body
// (AES-128-CTR, the key wrapped with ECIES-P256 for the device class's
// key), so the update server and everything on the way hold only
// ciphertext. Whoever has only the public signing key cannot read or even
// verify it (the hash covers the plaintext); the holder of the device
// class's private key verifies the signature and recovers the firmware.
//
// Then the device boots it: a simulated device (a boot device directory
// with the device-class key provisioned, 0600) takes the downloaded image
// into its secondary slot, and Rampart's bootloader decrypts it into the
// primary slot while installing it (swap-move), boots it and keeps it once
// confirmed (README.md).
package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"rampart/boot"
	"rampart/flash"
	"rampart/image"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "encrypted-firmware:", err)
		os.Exit(1)
	}
}

func firmware(n int) []byte {
	out := make([]byte, 0, n)
	b := sha256.Sum256([]byte("secret algorithm"))
	for len(out) < n {
		out = append(out, b[:]...)
		b = sha256.Sum256(b[:])
	}
	return out[:n]
}

func run(out io.Writer) error {
	sign, err := image.GenerateKey(image.KeyECDSAP256, rand.Reader)
	if err != nil {
		return err
	}
	// The device class's encryption key: its private half is provisioned
	// into the devices, its public half given to the release pipeline.
	enc, err := image.GenerateKey(image.KeyECDSAP256, rand.Reader)
	if err != nil {
		return err
	}
	signPub := sign.(crypto.Signer).Public()
	encPub := enc.(*ecdsa.PrivateKey).Public()
	fw := firmware(16 << 10)
	v, _ := image.ParseVersion("2.0.0")
	sc := uint32(2) // the bootloader's rollback protection needs a security counter
	res, err := image.Sign(fw, &image.SignOptions{Key: sign.(crypto.Signer), HeaderSize: 0x200, PadHeader: true, Version: v,
		SecurityCounter: &sc, EncryptKey: encPub, Rand: rand.Reader})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "signed and encrypted %d bytes of firmware into a %d-byte image\n", len(fw), len(res.Bytes))

	// What the update server and the network see.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(res.Bytes) }))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v2.bin")
	if err != nil {
		return err
	}
	wire, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	for off := 0; off+32 <= len(fw); off += 32 {
		if bytes.Contains(wire, fw[off:off+32]) {
			return fmt.Errorf("firmware bytes at %d appear in the downloaded image", off)
		}
	}
	fmt.Fprintln(out, "downloaded image: no 32-byte run of the firmware appears in it")

	img, err := image.Parse(wire)
	if err != nil {
		return err
	}
	if _, err := img.Verify(image.VerifyOptions{Keys: []any{signPub}}); err == nil {
		return errors.New("verified without the decryption key")
	} else {
		fmt.Fprintf(out, "without the device-class key: %v\n", err)
	}
	other, _ := image.GenerateKey(image.KeyECDSAP256, rand.Reader)
	if _, err := img.Decrypt(other); err == nil {
		return errors.New("decrypted with another key")
	} else {
		fmt.Fprintf(out, "with another key: %v\n", err)
	}
	vr, err := img.Verify(image.VerifyOptions{Keys: []any{signPub}, DecryptKey: enc})
	if err != nil {
		return err
	}
	plain, err := img.Decrypt(enc)
	if err != nil {
		return err
	}
	body := plain[img.Header.HdrSize:]
	if !vr.Signed || !bytes.Equal(body[:len(fw)], fw) {
		return errors.New("decrypted firmware differs")
	}
	fmt.Fprintf(out, "with the device-class key: signature valid, firmware recovered (%d bytes, identical)\n", len(fw))
	return bootDevice(out, sign.(crypto.Signer), enc, fw, wire)
}

// bootDevice installs the downloaded image on a simulated device running
// version 1.0.0 and boots it: the bootloader decrypts the body into the
// primary slot while swapping, boots 2.0.0, and keeps it once confirmed.
func bootDevice(out io.Writer, sign crypto.Signer, enc any, fw, wire []byte) error {
	dir, err := os.MkdirTemp("", "encrypted-firmware-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := &boot.Config{
		Flash:           flash.Geometry{Sectors: []flash.SectorRun{{Size: 4096, Count: 2 + 7 + 6 + 1}}, WriteAlign: 8, ErasedValue: 0xff},
		Strategy:        boot.SwapMove,
		EncryptedImages: true,
		Bootloader:      boot.Area{Offset: 0, Size: 2 * 4096},
		Images: []boot.ImageSlots{{ID: 0, Name: "firmware",
			Primary:   boot.Area{Offset: 2 * 4096, Size: 7 * 4096},
			Secondary: boot.Area{Offset: 9 * 4096, Size: 6 * 4096}}},
		Storage: []boot.NamedArea{{Name: "its", Area: boot.Area{Offset: 15 * 4096, Size: 4096}}},
	}
	dev, err := boot.CreateDevice(filepath.Join(dir, "device"), cfg, []any{sign.Public()}, 0)
	if err != nil {
		return err
	}
	defer dev.Close()
	if err := dev.ProvisionDecryptKey(enc); err != nil {
		return err
	}
	fmt.Fprintf(out, "device: decrypt key provisioned in %s (mode 0600)\n", boot.DeviceDecryptKeyFile)
	v1, _ := image.ParseVersion("1.0.0")
	sc := uint32(1)
	factory, err := image.Sign(firmware(9000)[4000:], &image.SignOptions{Key: sign, HeaderSize: 0x200, PadHeader: true, Version: v1, SecurityCounter: &sc})
	if err != nil {
		return err
	}
	bl := dev.Boot
	if err := bl.Install(0, boot.Primary, factory.Bytes); err != nil {
		return err
	}
	if err := bl.Install(0, boot.Secondary, wire); err != nil {
		return err
	}
	if err := bl.RequestUpgrade(0, false); err != nil {
		return err
	}
	res, err := bl.Boot()
	if err != nil {
		return err
	}
	if !res.Images[0].Booted || res.Images[0].Version != "2.0.0+0" {
		return fmt.Errorf("the device booted %q, not 2.0.0: %q", res.Images[0].Version, res.Images[0].Notes)
	}
	// The primary slot holds the firmware in clear, as it runs from there.
	pri := make([]byte, 0x200+len(fw))
	if err := dev.Flash.Read(uint32(cfg.Images[0].Primary.Offset), pri); err != nil {
		return err
	}
	if !bytes.Equal(pri[0x200:], fw) {
		return errors.New("the primary slot does not hold the decrypted firmware")
	}
	fmt.Fprintf(out, "device: booted %s, decrypted into the primary slot while installing it\n", res.Images[0].Version)
	if err := bl.Confirm(0); err != nil {
		return err
	}
	if res, err = bl.Boot(); err != nil {
		return err
	}
	fmt.Fprintf(out, "device: confirmed, reboots into %s\n", res.Images[0].Version)
	return nil
}
