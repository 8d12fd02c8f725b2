package audit_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"

	"rampart/spe/audit"
)

func Example() {
	_, deviceKey, _ := ed25519.GenerateKey(rand.Reader)
	dir, _ := os.MkdirTemp("", "audit")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "audit.log")

	store, _ := audit.OpenFile(path)
	log, err := audit.Open(store, deviceKey, audit.Options{CheckpointEvery: 16})
	if err != nil {
		panic(err)
	}
	log.Append(-1, "its.set", []byte(`{"uid": 7}`))
	log.Append(3001, "key.destroy", nil)
	anchor, _ := log.Checkpoint() // keep it in trusted storage
	log.Close()

	// An authorized reader checks the whole store against the device key.
	f, _ := audit.OpenFile(path)
	defer f.Close()
	st, _ := f.Stat()
	rep, err := audit.Verify(f, st.Size(), deviceKey.Public(), audit.VerifyOptions{Anchor: anchor})
	if err != nil {
		panic(err)
	}
	for _, r := range rep.Records {
		fmt.Println(r.Seq, r.Client, r.Event)
	}
	// Output:
	// 0 -1 its.set
	// 1 3001 key.destroy
}
