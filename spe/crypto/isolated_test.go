package crypto

import (
	"crypto/rand"
	"flag"
	"fmt"
	"strings"

	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"rampart/psa"
	"rampart/spe/rootkey"
	"testing"

	"rampart/ipc"
	"rampart/spe"
)

var levelsFull = flag.Bool("spe.levels.full", false, "run every Wycheproof file at isolation levels 2 and 3 too (default: a representative subset)")

// wycheproofSubset is what the default run checks at levels 2 and 3: one
// file of each kind of call (AEAD, ECDSA, HKDF, key agreement, MAC).
var wycheproofSubset = []string{"aes_gcm_test.json", "ecdsa_secp256r1_sha256_p1363_test.json", "hkdf_sha256_test.json", "x25519_test.json", "hmac_sha256_test.json"}

// level3CryptoID is the crypto partition's ID towards the root key
// partition in these tests (the platform's CryptoPartitionID).
const level3CryptoID int32 = 0xf104

// startIsolatedSPE serves the crypto partition from a process of its own
// (this test binary, TestCryptoPartitionHelper) behind an SPM in this
// process. At level 2 that process holds the HUK, as the PSA RoT's process
// does; at level 3 a root key partition holds it, in a process of its own,
// and the crypto process gets its store key from it through the SPM.
func startIsolatedSPE(t *testing.T, level int) *testSPE {
	t.Helper()
	dir := t.TempDir()
	srv := spe.New(spe.Options{Identify: func(int, int) (int32, error) { return -1, nil }, Logf: log.New(os.Stderr, "spm: ", 0).Printf})
	if err := srv.RegisterStatus(); err != nil {
		t.Fatal(err)
	}
	start := func(role string, m spe.PartitionManifest, callers map[int32]*spe.PartitionManifest) {
		_, err := srv.StartRemote(spe.RemoteOptions{Name: role, Manifests: []spe.PartitionManifest{m}, Partitions: callers,
			Hello: []byte(role + "\n" + filepath.Join(dir, "state")),
			Command: func() *exec.Cmd {
				cmd := exec.Command(os.Args[0], "-test.run=^TestCryptoPartitionHelper$")
				cmd.Env = append(os.Environ(), "RAMPART_TEST_CRYPTO_PARTITION=1")
				cmd.Stderr = os.Stderr
				return cmd
			}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if level == 3 {
		start("rootkey", rootkey.Manifest, nil)
		start("crypto3", Manifest, map[int32]*spe.PartitionManifest{level3CryptoID: &Manifest})
	} else {
		start("crypto2", Manifest, nil)
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

// TestCryptoPartitionHelper is a partition process of startIsolatedSPE
// (crypto with the HUK, the root key partition, or crypto without the
// HUK); it does nothing in a normal run.
func TestCryptoPartitionHelper(t *testing.T) {
	if os.Getenv("RAMPART_TEST_CRYPTO_PARTITION") != "1" {
		t.Skip("a partition process of startIsolatedSPE")
	}
	c, err := net.FileConn(os.NewFile(3, "spm-link"))
	if err != nil {
		t.Fatal(err)
	}
	link := spe.NewPartitionLink(c, ipc.Limits{})
	hello, err := link.Hello()
	if err != nil {
		t.Fatal(err)
	}
	role, stateDir, _ := strings.Cut(string(hello), "\n")
	srv := spe.New(spe.Options{})
	switch role {
	case "crypto3":
		err = link.ServeOpening(srv, func() error {
			key, err := rootkey.Client{T: link.Caller(level3CryptoID)}.Derive(StoreKeyLabel)
			if err != nil {
				return err
			}
			svc, err := New(Options{StateDir: stateDir, StoreKey: key})
			if err == nil {
				err = svc.Register(srv)
			}
			if err == nil {
				err = spe.Sandbox()
			}
			return err
		})
	case "rootkey":
		var huk []byte
		huk, err = LoadOrCreateHUK(filepath.Join(stateDir, "huk"), rand.Reader)
		if err == nil {
			grants := map[int32]rootkey.Grant{level3CryptoID: func(l string) bool { return l == StoreKeyLabel }}
			err = rootkey.New(huk, grants, 0).Register(srv)
		}
		if err == nil {
			err = spe.Sandbox()
		}
		err = link.Serve(srv, err)
	default:
		var svc *Service
		svc, err = New(Options{StateDir: stateDir})
		if err == nil {
			err = svc.Register(srv)
		}
		if err == nil {
			err = spe.Sandbox()
		}
		err = link.Serve(srv, err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestWycheproofIsolated runs the Wycheproof vectors through an SPM to the
// crypto partition's own process at isolation levels 2 (the process holds
// the HUK) and 3 (it holds only the store key the root key partition gave
// it): a subset by default, every file with -spe.levels.full.
func TestWycheproofIsolated(t *testing.T) {
	files := make([]string, len(wycheproofSubset))
	for i, f := range wycheproofSubset {
		files[i] = filepath.Join("testdata", f)
	}
	if *levelsFull {
		files, _ = filepath.Glob(filepath.Join("testdata", "*_test.json"))
	}
	for _, level := range []int{2, 3} {
		t.Run(fmt.Sprintf("level%d", level), func(t *testing.T) {
			e := startIsolatedSPE(t, level)
			runWycheproofFiles(t, e.dial(t), files)
			if level == 3 {
				persistentKeyRound(t, e)
			}
		})
	}
}

// persistentKeyRound makes a persistent key and uses it: the store key the
// level-3 process got from the root key partition seals and opens it.
func persistentKeyRound(t *testing.T, e *testSPE) {
	t.Helper()
	c := e.dial(t)
	id, err := c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeAES, Bits: 128, ID: 0x77, Lifetime: psa.LifetimePersistent,
		Usage: psa.UsageEncrypt | psa.UsageDecrypt, Algorithm: psa.AlgGCM})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AEADEncrypt(id, psa.AlgGCM, make([]byte, 12), nil, []byte("sealed by the store key")); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(e.dir, "state", "keys", "*"))
	if len(files) == 0 {
		t.Fatal("no sealed key file was written")
	}
}
