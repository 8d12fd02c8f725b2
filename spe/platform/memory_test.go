package platform_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"rampart/spe/platform"
)

// rootSecrets opens the provisioned platform in this process (level 1) and
// returns the HUK and the IAK's private scalar, as the SPE holds them.
func rootSecrets(t *testing.T, stateDir string) (huk, iak []byte) {
	t.Helper()
	p, err := platform.Open(platform.Options{StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	huk = append([]byte(nil), p.HUK()...)
	// The sealing label is attestation's own ("initial attestation key").
	der, err := p.AttestStore().GetSealed("iak", "initial attestation key", huk)
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	iak, err = k.(*ecdsa.PrivateKey).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return huk, iak
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

// TestAppPartitionHoldsNoRootKeys reads the memory of every partition
// process at level 3, after they served: the HUK is in the root key
// partition's process alone, the IAK in the platform process (attestation)
// alone, and neither in crypto's, ITS's, PS's or any application
// partition's. The two holders are the control that shows the search
// finds the keys.
func TestAppPartitionHoldsNoRootKeys(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("reading another process's memory needs root (CAP_SYS_PTRACE): partition processes are not dumpable")
	}
	devDir, stateDir := newDevice(t)
	provisionDevice(t, devDir, stateDir)
	huk, iak := rootSecrets(t, stateDir)
	e := startLevel(t, 3, devDir, stateDir)
	serviceRound(t, e) // crypto seals, PS seals, attestation signs, the sensor signs through crypto
	holders := map[string][2]bool{platform.GroupRootKey: {true, false}, platform.GroupPlatform: {false, true}}
	for _, r := range e.remotes {
		mem := readMemory(t, r.PID())
		got := [2]bool{holds(mem, huk), holds(mem, iak)}
		t.Logf("%s (pid %d): %d bytes read, HUK %v, IAK %v", r.Name(), r.PID(), len(mem), got[0], got[1])
		if want := holders[r.Name()]; got != want {
			t.Errorf("process %s: holds HUK %v, IAK %v; want HUK %v, IAK %v", r.Name(), got[0], got[1], want[0], want[1])
		}
	}
}
