package demo

import (
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"

	"rampart/image"
)

// Demo image layout: the common MCUboot geometry imgtool's own examples use.
const (
	headerSize = 0x200
	slotSize   = 0x20000
)

func imageSteps() []Step {
	return []Step{
		{"Manufacturer creates a firmware signing key (ECDSA P-256, PKCS#8 as imgtool writes it)", stepKeygen},
		{"Sign firmware v1.0.0 as an MCUboot image (security counter 1)", func(s *State) (string, error) {
			return s.signFirmware("v1", "1.0.0+0", 1)
		}},
		{"Verify v1 as MCUboot would: header, TLVs, SHA-256, signature by the provisioned key", func(s *State) (string, error) {
			return s.verifyImage("v1")
		}},
		{"A tampered copy of v1 (one firmware byte flipped) is refused", stepTamperedImage},
	}
}

func stepKeygen(s *State) (string, error) {
	k, err := image.GenerateKey(image.KeyECDSAP256, s.rand)
	if err != nil {
		return "", err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return "", errors.New("generated key is not a crypto.Signer")
	}
	s.signKey = signer
	pemBytes, err := image.MarshalPrivateKeyPEM(k)
	if err != nil {
		return "", err
	}
	path, err := s.write("keys/root-ec-p256.pem", pemBytes)
	if err != nil {
		return "", err
	}
	hash, err := image.KeyHash(signer.Public(), image.SHA256)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("key written to %s\nsigner ID (SHA-256 of the public key): %x", path, hash), nil
}

// sampleFirmware is a deterministic stand-in for a compiled application:
// different per version so every release has its own measurement.
func sampleFirmware(version string, size int) []byte {
	out := make([]byte, 0, size)
	block := sha256.Sum256([]byte("rampart demo firmware " + version))
	for len(out) < size {
		out = append(out, block[:]...)
		block = sha256.Sum256(block[:])
	}
	return out[:size]
}

func (s *State) signFirmware(name, version string, counter uint32) (string, error) {
	if s.signKey == nil {
		return "", errors.New("no signing key: the keygen step failed")
	}
	v, err := image.ParseVersion(version)
	if err != nil {
		return "", err
	}
	fw := sampleFirmware(version, 48*1024)
	res, err := image.Sign(fw, &image.SignOptions{
		Key: s.signKey, HeaderSize: headerSize, PadHeader: true, Version: v,
		SlotSize: slotSize, SecurityCounter: &counter, Rand: s.rand,
	})
	if err != nil {
		return "", err
	}
	data := res.Bytes
	s.firmware[name] = fw
	s.images[name] = data
	path, err := s.write("images/"+name+".signed.bin", data)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s: %d bytes of firmware -> %d-byte signed image %s", version, len(fw), len(data), path), nil
}

func (s *State) verifyImage(name string) (string, error) {
	data := s.images[name]
	if data == nil {
		return "", fmt.Errorf("no image %q: the signing step failed", name)
	}
	img, v, err := image.Verify(data, s.signKey.Public())
	if err != nil {
		return "", err
	}
	if !v.Signed {
		return "", errors.New("image verified without a signature by the provisioned key")
	}
	return fmt.Sprintf("valid: version %s, %s digest %x", img.Header.Ver, v.Hash, v.Digest), nil
}

func stepTamperedImage(s *State) (string, error) {
	data := s.images["v1"]
	if data == nil {
		return "", errors.New("no v1 image: the signing step failed")
	}
	bad := append([]byte(nil), data...)
	bad[headerSize+100] ^= 0x01
	if _, err := s.write("images/v1.tampered.bin", bad); err != nil {
		return "", err
	}
	_, _, err := image.Verify(bad, s.signKey.Public())
	if err == nil {
		return "", errors.New("the tampered image verified: the check is broken")
	}
	return "refused: " + err.Error(), nil
}
