// Command encrypted-firmware shows firmware IP protection with encrypted
// MCUboot images: the manufacturer signs the firmware and encrypts its body
// (AES-128-CTR, the key wrapped with ECIES-P256 for the device class's
// key), so the update server and everything on the way hold only
// ciphertext. Whoever has only the public signing key cannot read or even
// verify it (the hash covers the plaintext); the holder of the device
// class's private key verifies the signature and recovers the firmware.
//
// Rampart's simulated bootloader does not decrypt images yet
// (boot.ErrEncryptedImage), so this example stops at the device side's
// verification and decryption (README.md).
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
	res, err := image.Sign(fw, &image.SignOptions{Key: sign.(crypto.Signer), HeaderSize: 0x200, PadHeader: true, Version: v,
		EncryptKey: encPub, Rand: rand.Reader})
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
	return nil
}
