package psa

import "fmt"

// Output buffer sizes the client offers the SPE.
const (
	maxKeyExport = 8192 // an RSA-4096 key pair in DER fits
	maxSignature = 1024
	maxHash      = 64
	maxBlockPad  = 32 // IV and padding of a cipher
	maxTag       = 16
	maxListKeys  = 64 << 10
)

// GenerateRandom returns n random bytes from the SPE.
func (c *Client) GenerateRandom(n int) ([]byte, error) {
	out, err := c.call("generate_random", OpGenerateRandom, nil, n)
	if err != nil {
		return nil, err
	}
	if len(out[0]) != n {
		return nil, fmt.Errorf("psa: generate_random: got %d bytes, want %d: %w", len(out[0]), n, ErrCommunicationFailure)
	}
	return out[0], nil
}

// HashCompute hashes input with alg.
func (c *Client) HashCompute(alg Algorithm, input []byte) ([]byte, error) {
	out, err := c.call("hash_compute", OpHashCompute, [][]byte{u32s(uint32(alg)), input}, maxHash)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// ImportKey imports key material in the PSA export format of attr.Type and
// returns its ID (attr.ID for a persistent key, an SPE-chosen ID otherwise).
func (c *Client) ImportKey(attr KeyAttributes, data []byte) (KeyID, error) {
	out, err := c.call("import_key", OpImportKey, [][]byte{AppendAttributes(nil, attr), data}, 4)
	if err != nil {
		return 0, err
	}
	return parseID("import_key", out[0])
}

// GenerateKey creates a random key in the SPE; its private part never
// leaves it unless the policy allows export.
func (c *Client) GenerateKey(attr KeyAttributes) (KeyID, error) {
	out, err := c.call("generate_key", OpGenerateKey, [][]byte{AppendAttributes(nil, attr)}, 4)
	if err != nil {
		return 0, err
	}
	return parseID("generate_key", out[0])
}

// ExportKey returns the key material; the key needs UsageExport.
func (c *Client) ExportKey(id KeyID) ([]byte, error) {
	out, err := c.call("export_key", OpExportKey, [][]byte{u32s(uint32(id))}, maxKeyExport)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// ExportPublicKey returns the public part of an asymmetric key.
func (c *Client) ExportPublicKey(id KeyID) ([]byte, error) {
	out, err := c.call("export_public_key", OpExportPublicKey, [][]byte{u32s(uint32(id))}, maxKeyExport)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// CopyKey copies a key (which needs UsageCopy) under attr: the copy's usage
// and algorithm are the intersection of both policies.
func (c *Client) CopyKey(id KeyID, attr KeyAttributes) (KeyID, error) {
	out, err := c.call("copy_key", OpCopyKey, [][]byte{AppendAttributes(u32s(uint32(id)), attr)}, 4)
	if err != nil {
		return 0, err
	}
	return parseID("copy_key", out[0])
}

// DestroyKey destroys a key, and its stored copy when persistent.
func (c *Client) DestroyKey(id KeyID) error {
	_, err := c.call("destroy_key", OpDestroyKey, [][]byte{u32s(uint32(id))})
	return err
}

// PurgeKey drops the SPE's in-memory copy of a persistent key.
func (c *Client) PurgeKey(id KeyID) error {
	_, err := c.call("purge_key", OpPurgeKey, [][]byte{u32s(uint32(id))})
	return err
}

// KeyAttributes returns a key's attributes.
func (c *Client) KeyAttributes(id KeyID) (KeyAttributes, error) {
	var a KeyAttributes
	out, err := c.call("get_key_attributes", OpGetKeyAttributes, [][]byte{u32s(uint32(id))}, AttributesSize)
	if err != nil {
		return a, err
	}
	return a, a.UnmarshalBinary(out[0])
}

// ListKeys returns the attributes of every key of the calling client (key
// material is never listed).
func (c *Client) ListKeys() ([]KeyAttributes, error) {
	out, err := c.call("list_keys", OpListKeys, nil, maxListKeys)
	if err != nil {
		return nil, err
	}
	b := out[0]
	if len(b)%AttributesSize != 0 {
		return nil, fmt.Errorf("psa: list_keys: %d bytes: %w", len(b), ErrCommunicationFailure)
	}
	var list []KeyAttributes
	for ; len(b) > 0; b = b[AttributesSize:] {
		var a KeyAttributes
		if err := a.UnmarshalBinary(b[:AttributesSize]); err != nil {
			return nil, err
		}
		list = append(list, a)
	}
	return list, nil
}

// MACCompute computes a MAC (HMAC, CMAC, possibly truncated).
func (c *Client) MACCompute(id KeyID, alg Algorithm, input []byte) ([]byte, error) {
	out, err := c.call("mac_compute", OpMACCompute, [][]byte{keyAlg(id, alg), input}, maxHash)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// MACVerify checks a MAC in constant time; a mismatch is ErrInvalidSignature.
func (c *Client) MACVerify(id KeyID, alg Algorithm, input, mac []byte) error {
	_, err := c.call("mac_verify", OpMACVerify, [][]byte{keyAlg(id, alg), input, mac})
	return err
}

// CipherEncrypt encrypts with a fresh random IV, returned before the
// ciphertext.
func (c *Client) CipherEncrypt(id KeyID, alg Algorithm, plaintext []byte) ([]byte, error) {
	out, err := c.call("cipher_encrypt", OpCipherEncrypt, [][]byte{keyAlg(id, alg), plaintext}, len(plaintext)+maxBlockPad)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// CipherDecrypt decrypts IV || ciphertext.
func (c *Client) CipherDecrypt(id KeyID, alg Algorithm, input []byte) ([]byte, error) {
	out, err := c.call("cipher_decrypt", OpCipherDecrypt, [][]byte{keyAlg(id, alg), input}, len(input))
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// AEADEncrypt returns ciphertext || tag.
func (c *Client) AEADEncrypt(id KeyID, alg Algorithm, nonce, aad, plaintext []byte) ([]byte, error) {
	out, err := c.call("aead_encrypt", OpAEADEncrypt, [][]byte{append(keyAlg(id, alg), nonce...), aad, plaintext}, len(plaintext)+maxTag)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// AEADDecrypt opens ciphertext || tag; a bad tag is ErrInvalidSignature.
func (c *Client) AEADDecrypt(id KeyID, alg Algorithm, nonce, aad, ciphertext []byte) ([]byte, error) {
	out, err := c.call("aead_decrypt", OpAEADDecrypt, [][]byte{append(keyAlg(id, alg), nonce...), aad, ciphertext}, len(ciphertext))
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// SignHash signs a hash. ECDSA signatures are r || s, each the size of the
// curve order (use ECDSASignatureToASN1 for DER).
func (c *Client) SignHash(id KeyID, alg Algorithm, hash []byte) ([]byte, error) {
	out, err := c.call("sign_hash", OpSignHash, [][]byte{keyAlg(id, alg), hash}, maxSignature)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// VerifyHash verifies a signature of a hash; a bad one is ErrInvalidSignature.
func (c *Client) VerifyHash(id KeyID, alg Algorithm, hash, sig []byte) error {
	_, err := c.call("verify_hash", OpVerifyHash, [][]byte{keyAlg(id, alg), hash, sig})
	return err
}

// SignMessage hashes (if alg has a hash) and signs a message.
func (c *Client) SignMessage(id KeyID, alg Algorithm, msg []byte) ([]byte, error) {
	out, err := c.call("sign_message", OpSignMessage, [][]byte{keyAlg(id, alg), msg}, maxSignature)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// VerifyMessage verifies a signature of a message.
func (c *Client) VerifyMessage(id KeyID, alg Algorithm, msg, sig []byte) error {
	_, err := c.call("verify_message", OpVerifyMessage, [][]byte{keyAlg(id, alg), msg, sig})
	return err
}

// AsymmetricEncrypt encrypts with RSA (OAEP with salt as the label, or
// PKCS#1 v1.5).
func (c *Client) AsymmetricEncrypt(id KeyID, alg Algorithm, input, salt []byte) ([]byte, error) {
	out, err := c.call("asymmetric_encrypt", OpAsymmetricEncrypt, [][]byte{keyAlg(id, alg), input, salt}, maxKeyExport/8)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// AsymmetricDecrypt decrypts with an RSA key pair.
func (c *Client) AsymmetricDecrypt(id KeyID, alg Algorithm, input, salt []byte) ([]byte, error) {
	out, err := c.call("asymmetric_decrypt", OpAsymmetricDecrypt, [][]byte{keyAlg(id, alg), input, salt}, maxKeyExport/8)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// RawKeyAgreement returns the raw shared secret of ECDH or X25519 with the
// peer's public key (an uncompressed point, or 32 bytes for X25519).
func (c *Client) RawKeyAgreement(alg Algorithm, id KeyID, peer []byte) ([]byte, error) {
	out, err := c.call("raw_key_agreement", OpRawKeyAgreement, [][]byte{keyAlg(id, alg), peer}, 128)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// DeriveBytes runs HKDF with the key (type DERIVE, usage DERIVE) as the
// secret and returns length bytes.
func (c *Client) DeriveBytes(id KeyID, alg Algorithm, salt, info []byte, length int) ([]byte, error) {
	if length < 0 {
		return nil, fmt.Errorf("psa: derive: length %d: %w", length, ErrInvalidArgument)
	}
	out, err := c.call("key_derivation_output_bytes", OpDeriveBytes, [][]byte{u32s(uint32(id), uint32(alg), uint32(length)), salt, info}, length)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// DeriveKey runs HKDF with the key as the secret into a new key of attr
// (symmetric types only), returning the new key's ID.
func (c *Client) DeriveKey(id KeyID, alg Algorithm, salt, info []byte, attr KeyAttributes) (KeyID, error) {
	out, err := c.call("key_derivation_output_key", OpDeriveKey, [][]byte{AppendAttributes(keyAlg(id, alg), attr), salt, info}, 4)
	if err != nil {
		return 0, err
	}
	return parseID("key_derivation_output_key", out[0])
}
