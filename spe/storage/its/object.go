package its

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"rampart/ipc"
	"rampart/psa"
)

// objMagic starts every ITS object file.
var objMagic = []byte("RIT1")

const objHeader = 4 + 4 + 4

// object is one stored ITS object.
type object struct {
	Flags psa.StorageFlags
	Data  []byte
}

func (o *object) marshal() []byte {
	b := make([]byte, 0, objHeader+len(o.Data)+sha256.Size)
	b = append(b, objMagic...)
	b = binary.LittleEndian.AppendUint32(b, uint32(o.Flags))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(o.Data)))
	b = append(b, o.Data...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// parseObject decodes an object file; any damage is ipc.ErrDataCorrupt.
func parseObject(b []byte) (*object, error) {
	if len(b) < objHeader+sha256.Size {
		return nil, fmt.Errorf("its: object of %d bytes is truncated: %w", len(b), ipc.ErrDataCorrupt)
	}
	if !bytes.Equal(b[:4], objMagic) {
		return nil, fmt.Errorf("its: object magic: %w", ipc.ErrDataCorrupt)
	}
	n := binary.LittleEndian.Uint32(b[8:])
	if uint64(n) != uint64(len(b)-objHeader-sha256.Size) {
		return nil, fmt.Errorf("its: object length %d does not match file: %w", n, ipc.ErrDataCorrupt)
	}
	body := b[:len(b)-sha256.Size]
	sum := sha256.Sum256(body)
	if !bytes.Equal(sum[:], b[len(body):]) {
		return nil, fmt.Errorf("its: object digest: %w", ipc.ErrDataCorrupt)
	}
	return &object{Flags: psa.StorageFlags(binary.LittleEndian.Uint32(b[4:])), Data: body[objHeader:]}, nil
}

// objName is the file name of (client, uid): each client its own namespace.
func objName(client int32, uid psa.StorageUID) string {
	return fmt.Sprintf("%08x-%016x", uint32(client), uint64(uid))
}

func clientPrefix(client int32) string { return fmt.Sprintf("%08x-", uint32(client)) }
