package ps

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"rampart/ipc"
	"rampart/psa"
)

// fileMagic starts every PS object file Rampart writes; fileMagicV1 the
// files of versions without psa_ps_create (no capacity field), still read.
var (
	fileMagic   = []byte("RPS2")
	fileMagicV1 = []byte("RPS1")
)

// header: magic, flags u32, version u64, client i32, uid u64, length u32,
// capacity u32 (RPS2 only), nonce.
const (
	nonceSize    = 12
	tagSize      = 16
	headerSizeV1 = 4 + 4 + 8 + 4 + 8 + 4 + nonceSize
	headerSize   = headerSizeV1 + 4
)

// sealed is a decoded PS object file.
type sealed struct {
	Flags   psa.StorageFlags
	Version uint64
	Client  int32
	UID     psa.StorageUID
	// Capacity is what psa_ps_create reserved (at least len(Data)); a
	// version 1 file's is len(Data).
	Capacity uint32
	Data     []byte // plaintext after open
}

// ObjectLabelPrefix starts the HKDF label of every object key: the key of
// (client, uid) is HKDF-SHA256(HUK, prefix ‖ u32 client ‖ u64 uid).
const ObjectLabelPrefix = "rampart ps object v1"

// KeySource returns HKDF-SHA256(HUK, label): from the HUK in this process
// (HUKKeys), or from the root key partition (isolation level 3).
type KeySource func(label string) ([]byte, error)

// HUKKeys derives from a HUK this process holds.
func HUKKeys(huk []byte) KeySource {
	return func(label string) ([]byte, error) { return hkdf.Key(sha256.New, huk, nil, label, 32) }
}

// objectKey derives the AEAD key of (client, uid) from the HUK.
func objectKey(keys KeySource, client int32, uid psa.StorageUID) (cipher.AEAD, error) {
	info := binary.LittleEndian.AppendUint32([]byte(ObjectLabelPrefix), uint32(client))
	info = binary.LittleEndian.AppendUint64(info, uint64(uid))
	k, err := keys(string(info))
	if err != nil {
		return nil, fmt.Errorf("ps: object key: %v: %w", err, ipc.ErrStorageFailure)
	}
	defer clear(k)
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func (o *sealed) header(nonce []byte) []byte {
	h := make([]byte, 0, headerSize)
	h = append(h, fileMagic...)
	h = binary.LittleEndian.AppendUint32(h, uint32(o.Flags))
	h = binary.LittleEndian.AppendUint64(h, o.Version)
	h = binary.LittleEndian.AppendUint32(h, uint32(o.Client))
	h = binary.LittleEndian.AppendUint64(h, uint64(o.UID))
	h = binary.LittleEndian.AppendUint32(h, uint32(len(o.Data)))
	h = binary.LittleEndian.AppendUint32(h, max(o.Capacity, uint32(len(o.Data))))
	return append(h, nonce...)
}

// seal encodes o: header || ciphertext || tag, or with NO_CONFIDENTIALITY
// header || data || tag where the tag authenticates header and data.
func seal(keys KeySource, o *sealed, rand io.Reader) ([]byte, error) {
	aead, err := objectKey(keys, o.Client, o.UID)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, nonceSize)
	if _, err := io.ReadFull(rand, nonce); err != nil {
		return nil, fmt.Errorf("ps: nonce: %w", err)
	}
	h := o.header(nonce)
	if o.Flags&psa.StorageFlagNoConfidentiality != 0 {
		aad := append(append([]byte(nil), h...), o.Data...)
		tag := aead.Seal(nil, nonce, nil, aad)
		return append(aad, tag...), nil
	}
	return aead.Seal(h, nonce, o.Data, h), nil
}

// open decodes and authenticates a PS object file for (client, uid). A file
// that is malformed or whose tag fails gives ipc.ErrInvalidSignature.
func open(keys KeySource, client int32, uid psa.StorageUID, b []byte) (*sealed, error) {
	hs := headerSize
	if len(b) >= 4 && bytes.Equal(b[:4], fileMagicV1) {
		hs = headerSizeV1
	} else if len(b) < 4 || !bytes.Equal(b[:4], fileMagic) {
		return nil, fmt.Errorf("ps: object file malformed: %w", ipc.ErrInvalidSignature)
	}
	if len(b) < hs+tagSize {
		return nil, fmt.Errorf("ps: object file malformed: %w", ipc.ErrInvalidSignature)
	}
	o := &sealed{
		Flags:   psa.StorageFlags(binary.LittleEndian.Uint32(b[4:])),
		Version: binary.LittleEndian.Uint64(b[8:]),
		Client:  int32(binary.LittleEndian.Uint32(b[16:])),
		UID:     psa.StorageUID(binary.LittleEndian.Uint64(b[20:])),
	}
	n := binary.LittleEndian.Uint32(b[28:])
	o.Capacity = n
	if hs == headerSize {
		o.Capacity = binary.LittleEndian.Uint32(b[32:])
		if o.Capacity < n {
			return nil, fmt.Errorf("ps: object capacity %d under its length %d: %w", o.Capacity, n, ipc.ErrInvalidSignature)
		}
	}
	if uint64(n) != uint64(len(b)-hs-tagSize) {
		return nil, fmt.Errorf("ps: object length field %d does not match the file: %w", n, ipc.ErrInvalidSignature)
	}
	if o.Client != client || o.UID != uid {
		return nil, fmt.Errorf("ps: object file belongs to another object: %w", ipc.ErrInvalidSignature)
	}
	aead, err := objectKey(keys, client, uid)
	if err != nil {
		return nil, err
	}
	h, nonce := b[:hs], b[hs-nonceSize:hs]
	if o.Flags&psa.StorageFlagNoConfidentiality != 0 {
		body := b[:len(b)-tagSize]
		if _, err := aead.Open(nil, nonce, b[len(body):], body); err != nil {
			return nil, fmt.Errorf("ps: object tag: %w", ipc.ErrInvalidSignature)
		}
		o.Data = append([]byte(nil), b[hs:len(body)]...)
		return o, nil
	}
	pt, err := aead.Open(nil, nonce, b[hs:], h)
	if err != nil {
		return nil, fmt.Errorf("ps: object tag: %w", ipc.ErrInvalidSignature)
	}
	o.Data = pt
	return o, nil
}
