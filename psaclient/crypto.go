package psaclient

import (
	"fmt"

	"rampart/psa"
)

// Output buffer sizes the client offers the SPE.
const (
	maxKeyExport = 8192 // an RSA-4096 key pair in DER fits
	maxSignature = 1024
	maxHash      = 64
	maxBlockPad  = 32 // IV and padding of a cipher
	maxTag       = 16
	maxListKeys  = 64 << 10
)

// keyAlg is the header of the many calls that name a key and an algorithm.
func keyAlg(id psa.KeyID, alg psa.Algorithm) *psa.CryptoHeader {
	return &psa.CryptoHeader{Key: id, Alg: alg}
}

// GenerateRandom returns n random bytes from the SPE.
func (c *Client) GenerateRandom(n int) ([]byte, error) {
	out, err := c.call("generate_random", psa.OpGenerateRandom, nil, nil, n)
	if err != nil {
		return nil, err
	}
	if len(out[0]) != n {
		return nil, fmt.Errorf("psaclient: generate_random: got %d bytes, want %d: %w", len(out[0]), n, psa.ErrCommunicationFailure)
	}
	return out[0], nil
}

// HashCompute hashes input with alg.
func (c *Client) HashCompute(alg psa.Algorithm, input []byte) ([]byte, error) {
	out, err := c.call("hash_compute", psa.OpHashCompute, &psa.CryptoHeader{Alg: alg}, [][]byte{input}, maxHash)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// createKey runs a call whose output is a new key's ID.
func (c *Client) createKey(name string, op psa.Op, h *psa.CryptoHeader, data [][]byte) (psa.KeyID, error) {
	out, err := c.call(name, op, h, data, 4)
	if err != nil {
		return 0, err
	}
	id, err := parseID(name, out[0])
	return psa.KeyID(id), err
}

// ImportKey imports key material in the PSA export format of attr.Type and
// returns its ID (attr.ID for a persistent key, an SPE-chosen ID otherwise).
func (c *Client) ImportKey(attr psa.KeyAttributes, data []byte) (psa.KeyID, error) {
	return c.createKey("import_key", psa.OpImportKey, &psa.CryptoHeader{Attributes: attr}, [][]byte{data})
}

// GenerateKey creates a random key in the SPE; its private part never
// leaves it unless the policy allows export.
func (c *Client) GenerateKey(attr psa.KeyAttributes) (psa.KeyID, error) {
	return c.createKey("generate_key", psa.OpGenerateKey, &psa.CryptoHeader{Attributes: attr}, nil)
}

// ExportKey returns the key material; the key needs UsageExport.
func (c *Client) ExportKey(id psa.KeyID) ([]byte, error) {
	out, err := c.call("export_key", psa.OpExportKey, &psa.CryptoHeader{Key: id}, nil, maxKeyExport)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// ExportPublicKey returns the public part of an asymmetric key.
func (c *Client) ExportPublicKey(id psa.KeyID) ([]byte, error) {
	out, err := c.call("export_public_key", psa.OpExportPublicKey, &psa.CryptoHeader{Key: id}, nil, maxKeyExport)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// CopyKey copies a key (which needs UsageCopy) under attr: the copy's usage
// and algorithm are the intersection of both policies.
func (c *Client) CopyKey(id psa.KeyID, attr psa.KeyAttributes) (psa.KeyID, error) {
	return c.createKey("copy_key", psa.OpCopyKey, &psa.CryptoHeader{Key: id, Attributes: attr}, nil)
}

// DestroyKey destroys a key, and its stored copy when persistent.
func (c *Client) DestroyKey(id psa.KeyID) error {
	_, err := c.call("destroy_key", psa.OpDestroyKey, &psa.CryptoHeader{Key: id}, nil)
	return err
}

// PurgeKey drops the SPE's in-memory copy of a persistent key.
func (c *Client) PurgeKey(id psa.KeyID) error {
	_, err := c.call("purge_key", psa.OpPurgeKey, &psa.CryptoHeader{Key: id}, nil)
	return err
}

// KeyAttributes returns a key's attributes.
func (c *Client) KeyAttributes(id psa.KeyID) (psa.KeyAttributes, error) {
	var a psa.KeyAttributes
	out, err := c.call("get_key_attributes", psa.OpGetKeyAttributes, &psa.CryptoHeader{Key: id}, nil, psa.AttributesSize)
	if err != nil {
		return a, err
	}
	if err := a.UnmarshalBinary(out[0]); err != nil {
		return a, malformed("get_key_attributes", err)
	}
	return a, nil
}

// ListKeys returns the attributes of every key of the calling client (key
// material is never listed).
func (c *Client) ListKeys() ([]psa.KeyAttributes, error) {
	out, err := c.call("list_keys", psa.OpListKeys, nil, nil, maxListKeys)
	if err != nil {
		return nil, err
	}
	b := out[0]
	if len(b)%psa.AttributesSize != 0 {
		return nil, fmt.Errorf("psaclient: list_keys: %d bytes: %w", len(b), psa.ErrCommunicationFailure)
	}
	var list []psa.KeyAttributes
	for ; len(b) > 0; b = b[psa.AttributesSize:] {
		var a psa.KeyAttributes
		if err := a.UnmarshalBinary(b[:psa.AttributesSize]); err != nil {
			return nil, malformed("list_keys", err)
		}
		list = append(list, a)
	}
	return list, nil
}

// MACCompute computes a MAC (HMAC, CMAC, possibly truncated).
func (c *Client) MACCompute(id psa.KeyID, alg psa.Algorithm, input []byte) ([]byte, error) {
	out, err := c.call("mac_compute", psa.OpMACCompute, keyAlg(id, alg), [][]byte{input}, maxHash)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// MACVerify checks a MAC in constant time; a mismatch is ErrInvalidSignature.
func (c *Client) MACVerify(id psa.KeyID, alg psa.Algorithm, input, mac []byte) error {
	_, err := c.call("mac_verify", psa.OpMACVerify, keyAlg(id, alg), [][]byte{input, mac})
	return err
}

// CipherEncrypt encrypts with a fresh random IV, returned before the
// ciphertext.
func (c *Client) CipherEncrypt(id psa.KeyID, alg psa.Algorithm, plaintext []byte) ([]byte, error) {
	out, err := c.call("cipher_encrypt", psa.OpCipherEncrypt, keyAlg(id, alg), [][]byte{plaintext}, len(plaintext)+maxBlockPad)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// CipherDecrypt decrypts IV || ciphertext.
func (c *Client) CipherDecrypt(id psa.KeyID, alg psa.Algorithm, input []byte) ([]byte, error) {
	out, err := c.call("cipher_decrypt", psa.OpCipherDecrypt, keyAlg(id, alg), [][]byte{input}, len(input))
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// AEADEncrypt returns ciphertext || tag.
func (c *Client) AEADEncrypt(id psa.KeyID, alg psa.Algorithm, nonce, aad, plaintext []byte) ([]byte, error) {
	h := &psa.CryptoHeader{Key: id, Alg: alg, Nonce: nonce}
	out, err := c.call("aead_encrypt", psa.OpAEADEncrypt, h, [][]byte{aad, plaintext}, len(plaintext)+maxTag)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// AEADDecrypt opens ciphertext || tag; a bad tag is ErrInvalidSignature.
func (c *Client) AEADDecrypt(id psa.KeyID, alg psa.Algorithm, nonce, aad, ciphertext []byte) ([]byte, error) {
	h := &psa.CryptoHeader{Key: id, Alg: alg, Nonce: nonce}
	out, err := c.call("aead_decrypt", psa.OpAEADDecrypt, h, [][]byte{aad, ciphertext}, len(ciphertext))
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// SignHash signs a hash. ECDSA signatures are r || s, each the size of the
// curve order (use psa.ECDSASignatureToASN1 for DER).
func (c *Client) SignHash(id psa.KeyID, alg psa.Algorithm, hash []byte) ([]byte, error) {
	out, err := c.call("sign_hash", psa.OpSignHash, keyAlg(id, alg), [][]byte{hash}, maxSignature)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// VerifyHash verifies a signature of a hash; a bad one is ErrInvalidSignature.
func (c *Client) VerifyHash(id psa.KeyID, alg psa.Algorithm, hash, sig []byte) error {
	_, err := c.call("verify_hash", psa.OpVerifyHash, keyAlg(id, alg), [][]byte{hash, sig})
	return err
}

// SignMessage hashes (if alg has a hash) and signs a message.
func (c *Client) SignMessage(id psa.KeyID, alg psa.Algorithm, msg []byte) ([]byte, error) {
	out, err := c.call("sign_message", psa.OpSignMessage, keyAlg(id, alg), [][]byte{msg}, maxSignature)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// VerifyMessage verifies a signature of a message.
func (c *Client) VerifyMessage(id psa.KeyID, alg psa.Algorithm, msg, sig []byte) error {
	_, err := c.call("verify_message", psa.OpVerifyMessage, keyAlg(id, alg), [][]byte{msg, sig})
	return err
}

// AsymmetricEncrypt encrypts with RSA (OAEP with salt as the label, or
// PKCS#1 v1.5).
func (c *Client) AsymmetricEncrypt(id psa.KeyID, alg psa.Algorithm, input, salt []byte) ([]byte, error) {
	out, err := c.call("asymmetric_encrypt", psa.OpAsymmetricEncrypt, keyAlg(id, alg), [][]byte{input, salt}, maxKeyExport/8)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// AsymmetricDecrypt decrypts with an RSA key pair.
func (c *Client) AsymmetricDecrypt(id psa.KeyID, alg psa.Algorithm, input, salt []byte) ([]byte, error) {
	out, err := c.call("asymmetric_decrypt", psa.OpAsymmetricDecrypt, keyAlg(id, alg), [][]byte{input, salt}, maxKeyExport/8)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// RawKeyAgreement returns the raw shared secret of ECDH or X25519 with the
// peer's public key (an uncompressed point, or 32 bytes for X25519).
func (c *Client) RawKeyAgreement(alg psa.Algorithm, id psa.KeyID, peer []byte) ([]byte, error) {
	out, err := c.call("raw_key_agreement", psa.OpRawKeyAgreement, keyAlg(id, alg), [][]byte{peer}, 128)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// DeriveBytes runs HKDF with the key (type DERIVE, usage DERIVE) as the
// secret and returns length bytes.
func (c *Client) DeriveBytes(id psa.KeyID, alg psa.Algorithm, salt, info []byte, length int) ([]byte, error) {
	if length < 0 {
		return nil, fmt.Errorf("psaclient: derive: length %d: %w", length, psa.ErrInvalidArgument)
	}
	h := &psa.CryptoHeader{Key: id, Alg: alg, Length: uint32(length)}
	out, err := c.call("key_derivation_output_bytes", psa.OpDeriveBytes, h, [][]byte{salt, info}, length)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// DeriveKey runs HKDF with the key as the secret into a new key of attr
// (symmetric types only), returning the new key's ID.
func (c *Client) DeriveKey(id psa.KeyID, alg psa.Algorithm, salt, info []byte, attr psa.KeyAttributes) (psa.KeyID, error) {
	h := &psa.CryptoHeader{Key: id, Alg: alg, Attributes: attr}
	return c.createKey("key_derivation_output_key", psa.OpDeriveKey, h, [][]byte{salt, info})
}
