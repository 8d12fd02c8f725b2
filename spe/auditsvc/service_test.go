package auditsvc_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"rampart/ipc"
	"rampart/psaclient"
	"rampart/spe"
	"rampart/spe/audit"
	"rampart/spe/auditsvc"
	"rampart/spe/storage"
	"rampart/spe/storage/its"
)

func setup(t *testing.T) (string, *ecdsa.PrivateKey, *spe.Server, *auditsvc.Service) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	path := filepath.Join(t.TempDir(), "audit.log")
	svc, err := auditsvc.Open(auditsvc.Options{Path: path, Signer: key, Readers: []int32{-2}, Log: audit.Options{CheckpointEvery: 2}})
	if err != nil {
		t.Fatal(err)
	}
	srv := spe.New(spe.Options{})
	if err := svc.Register(srv); err != nil {
		t.Fatal(err)
	}
	return path, key, srv, svc
}

func client(t *testing.T, srv *spe.Server, id int32) *psaclient.Audit {
	t.Helper()
	l, err := srv.Local(id)
	if err != nil {
		t.Fatal(err)
	}
	c := psaclient.NewAudit(l)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestAppendRetrieveVerify(t *testing.T) {
	path, key, srv, svc := setup(t)
	secure, ns, reader := client(t, srv, 7), client(t, srv, -1), client(t, srv, -2)
	for i, ev := range []string{"key.generate", "fwu.install", "lifecycle.secured"} {
		if err := secure.Append(ev, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ns.Append("forged", nil); !errors.Is(err, ipc.ErrNotPermitted) {
		t.Fatalf("non-secure append: %v", err)
	}
	if _, err := ns.ReadAll(1 << 20); !errors.Is(err, ipc.ErrNotPermitted) {
		t.Fatalf("unauthorized read: %v", err)
	}
	if err := secure.Append("", nil); !errors.Is(err, ipc.ErrInvalidArgument) {
		t.Fatalf("empty event: %v", err)
	}
	if err := reader.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	data, err := reader.ReadAll(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := reader.PublicKey()
	if err != nil || !key.PublicKey.Equal(pub) {
		t.Fatalf("public key: %v", err)
	}
	rep, err := audit.Verify(bytes.NewReader(data), int64(len(data)), pub, audit.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Records) != 3 || rep.Records[1].Event != "fwu.install" || rep.Records[1].Client != 7 || rep.Unsealed != 0 {
		t.Fatalf("report %+v", rep)
	}
	// Any edit of the backing store is detected by the reader and refused by
	// the service at its next start.
	svc.Close()
	for i := 0; i < len(data); i += 7 {
		c := bytes.Clone(data)
		c[i] ^= 0x01
		if _, err := audit.Verify(bytes.NewReader(c), int64(len(c)), pub, audit.VerifyOptions{Anchor: rep.Last}); err == nil {
			t.Fatalf("flip at %d not detected", i)
		}
	}
	c := bytes.Clone(data)
	c[len(c)/2] ^= 0x80
	os.WriteFile(path, c, 0o600)
	if _, err := auditsvc.Open(auditsvc.Options{Path: path, Signer: key}); err == nil {
		t.Fatal("tampered log reopened")
	}
}

// TestAnchorRefusesRollback: with the anchor kept in ITS, a log file
// replaced by an older copy (a rollback to an earlier checkpoint) is refused.
func TestAnchorRefusesRollback(t *testing.T) {
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	st, err := storage.Open(filepath.Join(dir, "its"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	anchor := &auditsvc.ITSAnchor{ITS: its.New(st, its.Limits{})}
	path := filepath.Join(dir, "audit.log")
	opts := auditsvc.Options{Path: path, Signer: key, Anchor: anchor, Log: audit.Options{CheckpointEvery: 1}}
	svc, err := auditsvc.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Append(3, "first", nil); err != nil {
		t.Fatal(err)
	}
	svc.Close()
	old, _ := os.ReadFile(path)
	svc, err = auditsvc.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Append(3, "second", nil); err != nil {
		t.Fatal(err)
	}
	svc.Close()
	if a, err := anchor.Load(); err != nil || a == nil || a.Count != 2 {
		t.Fatalf("anchor %+v %v", a, err)
	}
	os.WriteFile(path, old, 0o600)
	if _, err := auditsvc.Open(opts); err == nil {
		t.Fatal("rolled-back log reopened")
	}
	// Without the anchor the rollback would pass: the anchor is what catches it.
	if _, err := auditsvc.Open(auditsvc.Options{Path: path, Signer: key}); err != nil {
		t.Fatalf("old log on its own: %v", err)
	}
}
