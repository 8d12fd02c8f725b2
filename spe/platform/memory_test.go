package platform_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"rampart/attest"
	"rampart/psaclient"
	"rampart/spe/platform"
	"rampart/spe/storage"
)

// rootSecrets opens the provisioned platform in this process (level 1) and
// returns the HUK, the IAK's private scalar and the audit checkpoint key's,
// as the SPE holds them.
func rootSecrets(t *testing.T, stateDir string) (huk, iak, auditKey []byte) {
	t.Helper()
	p, err := platform.Open(platform.Options{StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	huk = append([]byte(nil), p.HUK()...)
	auditStore, err := storage.Open(filepath.Join(stateDir, platform.AuditDir, platform.AuditKeyDir), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The sealing labels are attestation's and audit's own.
	scalar := func(st *storage.Store, object, label string) []byte {
		der, err := st.GetSealed(object, label, huk)
		if err != nil {
			t.Fatal(err)
		}
		k, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			t.Fatal(err)
		}
		b, err := k.(*ecdsa.PrivateKey).Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return huk, scalar(p.AttestStore(), "iak", "initial attestation key"), scalar(auditStore, "audit-key", "audit checkpoint key")
}

// readMemory returns every readable mapping of process pid (root, or
// CAP_SYS_PTRACE, is needed: partition processes are not dumpable).
func readMemory(t *testing.T, pid int) []byte {
	t.Helper()
	maps, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	var all []byte
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[1][0] != 'r' || (len(f) >= 6 && (f[5] == "[vvar]" || f[5] == "[vsyscall]")) {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		start, _ := strconv.ParseUint(lo, 16, 64)
		end, _ := strconv.ParseUint(hi, 16, 64)
		buf := make([]byte, end-start)
		n, _ := mem.ReadAt(buf, int64(start))
		all = append(all, buf[:n]...)
	}
	if len(all) == 0 {
		t.Fatalf("read nothing of process %d", pid)
	}
	return all
}

// holds reports whether mem holds secret, in its byte order or reversed
// (a number kept as little-endian machine words).
func holds(mem, secret []byte) bool {
	rev := slices.Clone(secret)
	slices.Reverse(rev)
	return bytes.Contains(mem, secret) || bytes.Contains(mem, rev)
}

// secrets are the keys the memory tests look for, each with the one
// process allowed to hold it at level 3.
type secrets struct {
	names  [3]string
	keys   [3][]byte
	holder [3]string
}

func levelSecrets(t *testing.T, stateDir string) secrets {
	huk, iak, auditKey := rootSecrets(t, stateDir)
	return secrets{names: [3]string{"HUK", "IAK", "audit key"}, keys: [3][]byte{huk, iak, auditKey},
		holder: [3]string{platform.GroupRootKey, platform.GroupAttestation, platform.GroupAudit}}
}

// check reads every partition process's memory and reports each key found
// where it does not belong, and each key missing from its holder when
// holders is true (the control that shows the search finds the keys).
func (s secrets) check(t *testing.T, e *isoSPE, holders bool) {
	t.Helper()
	for _, r := range e.remotes {
		mem := readMemory(t, r.PID())
		for i, k := range s.keys {
			got, want := holds(mem, k), holders && s.holder[i] == r.Name()
			t.Logf("%s (pid %d): %d bytes read, %s %v", r.Name(), r.PID(), len(mem), s.names[i], got)
			if got != want {
				t.Errorf("process %s: holds the %s %v, want %v", r.Name(), s.names[i], got, want)
			}
		}
	}
}

// TestAppPartitionHoldsNoRootKeys reads the memory of every partition
// process at level 3, after they served: the HUK is in the root key
// partition's process alone, the IAK in attestation's alone, the audit
// key in audit's alone, and none in crypto's, ITS's, PS's, lifecycle's,
// FWU's or any application partition's. The holders are the control that
// shows the search finds the keys.
func TestAppPartitionHoldsNoRootKeys(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("reading another process's memory needs root (CAP_SYS_PTRACE): partition processes are not dumpable")
	}
	devDir, stateDir := newDevice(t)
	provisionDevice(t, devDir, stateDir)
	keys := levelSecrets(t, stateDir)
	e := startLevel(t, 3, devDir, stateDir)
	serviceRound(t, e) // crypto seals, PS seals, attestation signs, the sensor signs through crypto
	keys.check(t, e, true)
}

// TestDecommissionDropsKeysLevel3: once decommissioning at level 3 has
// answered, no partition process holds the HUK, the IAK or the audit key
// in memory: the SPM killed every PRoT process but lifecycle's and
// started it again on the decommissioned device, where it opens nothing.
// (Before, crypto, ITS, PS and the platform process kept what they held
// until a restart.)
func TestDecommissionDropsKeysLevel3(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("reading another process's memory needs root (CAP_SYS_PTRACE): partition processes are not dumpable")
	}
	devDir, stateDir := newDevice(t)
	provisionDevice(t, devDir, stateDir)
	keys := levelSecrets(t, stateDir)
	e := startIsolated(t, platform.Isolated{Level: 3, Spec: platform.Spec{StateDir: stateDir, DeviceDir: devDir, LifecycleAdmins: []int32{-1}}})
	serviceRound(t, e)
	before := map[string]int{}
	for _, r := range e.remotes {
		before[r.Name()] = r.PID()
	}
	if err := psaclient.NewLifecycle(e.dial(t)).Set(uint16(attest.LifecycleDecommissioned)); err != nil {
		t.Fatal(err)
	}
	for _, r := range e.remotes {
		if strings.HasPrefix(r.Name(), "prot:") && r.Name() != platform.GroupLifecycle {
			waitRestarted(t, r, before[r.Name()])
		}
	}
	keys.check(t, e, false)
	wantRetired(t, e)
}
