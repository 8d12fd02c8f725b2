package crypto

import (
	"flag"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"rampart/ipc"
	"rampart/spe"
)

var levelsFull = flag.Bool("spe.levels.full", false, "run every Wycheproof file at isolation levels 2 and 3 too (default: a representative subset)")

// wycheproofSubset is what the default run checks at levels 2 and 3: one
// file of each kind of call (AEAD, ECDSA, HKDF, key agreement, MAC).
var wycheproofSubset = []string{"aes_gcm_test.json", "ecdsa_secp256r1_sha256_p1363_test.json", "hkdf_sha256_test.json", "x25519_test.json", "hmac_sha256_test.json"}

// startIsolatedSPE serves the crypto partition from a process of its own
// (this test binary, TestCryptoPartitionHelper) behind an SPM in this
// process, as at isolation levels 2 and 3: at both levels the crypto
// partition runs in the PSA RoT's process, apart from the SPM.
func startIsolatedSPE(t *testing.T) *testSPE {
	t.Helper()
	dir := t.TempDir()
	srv := spe.New(spe.Options{Identify: func(int, int) (int32, error) { return -1, nil }, Logf: log.New(os.Stderr, "spm: ", 0).Printf})
	if err := srv.RegisterStatus(); err != nil {
		t.Fatal(err)
	}
	_, err := srv.StartRemote(spe.RemoteOptions{Name: "prot", Manifests: []spe.PartitionManifest{Manifest},
		Hello: []byte(filepath.Join(dir, "state")),
		Command: func() *exec.Cmd {
			cmd := exec.Command(os.Args[0], "-test.run=^TestCryptoPartitionHelper$")
			cmd.Env = append(os.Environ(), "RAMPART_TEST_CRYPTO_PARTITION=1")
			cmd.Stderr = os.Stderr
			return cmd
		}})
	if err != nil {
		t.Fatal(err)
	}
	sockDir, err := os.MkdirTemp("", "spe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "run", "spe.sock")
	if err := srv.Listen(sock); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		srv.Shutdown()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &testSPE{srv: srv, sock: sock, dir: dir}
}

// TestCryptoPartitionHelper is the crypto partition's process of
// startIsolatedSPE; it does nothing in a normal run.
func TestCryptoPartitionHelper(t *testing.T) {
	if os.Getenv("RAMPART_TEST_CRYPTO_PARTITION") != "1" {
		t.Skip("the crypto partition process of startIsolatedSPE")
	}
	c, err := net.FileConn(os.NewFile(3, "spm-link"))
	if err != nil {
		t.Fatal(err)
	}
	link := spe.NewPartitionLink(c, ipc.Limits{})
	stateDir, err := link.Hello()
	if err != nil {
		t.Fatal(err)
	}
	srv := spe.New(spe.Options{})
	svc, err := New(Options{StateDir: string(stateDir)})
	if err == nil {
		err = svc.Register(srv)
	}
	if err == nil {
		err = spe.Sandbox()
	}
	if err := link.Serve(srv, err); err != nil {
		t.Fatal(err)
	}
}

// TestWycheproofIsolated runs the Wycheproof vectors through an SPM to the
// crypto partition's own process (isolation levels 2 and 3): a subset by
// default, every file with -spe.levels.full.
func TestWycheproofIsolated(t *testing.T) {
	files := make([]string, len(wycheproofSubset))
	for i, f := range wycheproofSubset {
		files[i] = filepath.Join("testdata", f)
	}
	if *levelsFull {
		files, _ = filepath.Glob(filepath.Join("testdata", "*_test.json"))
	}
	// One run stands for both levels: they place the crypto partition
	// alike (the PRoT process); level 3 isolates application partitions
	// from each other, which the crypto suite does not involve.
	e := startIsolatedSPE(t)
	runWycheproofFiles(t, e.dial(t), files)
}
