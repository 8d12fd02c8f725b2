package image_test

import (
	"crypto/ed25519"
	"fmt"
	"strings"

	"rampart/image"
)

// Sign a firmware binary and verify the result, as a bootloader or a fleet
// server would.
func Example() {
	// A fixed seed keeps the example's output stable; use
	// image.GenerateKey(image.KeyEd25519, nil) for a real key.
	key := ed25519.NewKeyFromSeed([]byte(strings.Repeat("k", 32)))
	firmware := []byte("...firmware...")

	counter := uint32(3)
	res, err := image.Sign(firmware, &image.SignOptions{
		Key:             key,
		HeaderSize:      0x200,
		PadHeader:       true,
		Version:         image.Version{Major: 1, Minor: 2, Revision: 3},
		SecurityCounter: &counter,
		SlotSize:        0x20000,
	})
	if err != nil {
		panic(err)
	}

	img, v, err := image.Verify(res.Bytes, key.Public())
	if err != nil {
		fmt.Println("invalid:", err)
		return
	}
	sc, _, _ := img.SecurityCounter()
	fmt.Println(img.Header.Ver, v.Hash, v.Signed, sc, string(img.Body()))

	res.Bytes[0x200] ^= 1 // tamper with the body
	_, _, err = image.Verify(res.Bytes, key.Public())
	fmt.Println(err != nil)
	// Output:
	// 1.2.3+0 SHA256 true 3 ...firmware...
	// true
}
