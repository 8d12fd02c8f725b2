package crypto

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"

	"rampart/psa"
	"rampart/psaclient"
)

// TestClientIsolationAcrossProcesses runs client B in a separate process.
// Both processes run as the same uid here (the socket is 0600, so a second
// uid could not connect at all), so the SPE maps the peers by the pid the
// kernel reports through SO_PEERCRED: this process is client -1, the helper
// process is client -2. Nothing in the frames says which client is which.
func TestClientIsolationAcrossProcesses(t *testing.T) {
	var mu sync.Mutex
	helpers := map[int]bool{}
	self := os.Getpid()
	e := startSPE(t, "", func(uid, pid int) (int32, error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case pid == self:
			return -1, nil
		case helpers[pid]:
			return -2, nil
		}
		return 0, fmt.Errorf("unknown pid %d", pid)
	})
	a := e.dial(t)
	secret := bytes.Repeat([]byte{0x5a}, 16)
	persistent, err := a.ImportKey(psa.KeyAttributes{Type: psa.KeyTypeAES, Lifetime: psa.LifetimePersistent, ID: 7,
		Usage: psa.UsageExport | psa.UsageEncrypt | psa.UsageCopy, Algorithm: psa.AlgCTR}, secret)
	if err != nil {
		t.Fatal(err)
	}
	volatile, err := a.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeAES, Bits: 128, Usage: psa.UsageExport | psa.UsageEncrypt | psa.UsageCopy, Algorithm: psa.AlgCTR})
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestIsolationHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "RAMPART_SPE_HELPER_SOCK="+e.sock,
		"RAMPART_SPE_HELPER_KEYS="+strconv.Itoa(int(persistent))+","+strconv.Itoa(int(volatile)))
	stdin, _ := cmd.StdinPipe()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	helpers[cmd.Process.Pid] = true
	mu.Unlock()
	stdin.Write([]byte("go\n"))
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v\n%s", err, out.String())
	}
	var res map[string]string
	for _, line := range bytes.Split(out.Bytes(), []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("RESULT ")); ok {
			if err := json.Unmarshal(rest, &res); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(res) != 14 {
		t.Fatalf("helper reported %d results, want 14:\n%s", len(res), out.String())
	}
	for op, got := range res {
		want := psa.ErrInvalidHandle.Error()
		if op == "own key 7" || op == "list" {
			want = "ok"
		}
		if got != want {
			t.Errorf("client B %s: %s, want %s", op, got, want)
		}
	}
	// A's keys are untouched, and B's own key 7 is a different key.
	if got, err := a.ExportKey(persistent); err != nil || !bytes.Equal(got, secret) {
		t.Errorf("client A's key after B's attempts: %x %v", got, err)
	}
	if _, err := a.ExportKey(volatile); err != nil {
		t.Errorf("client A's volatile key after B's attempts: %v", err)
	}
}

// TestIsolationHelper is client B of TestClientIsolationAcrossProcesses; it
// does nothing unless started by it.
func TestIsolationHelper(t *testing.T) {
	sock := os.Getenv("RAMPART_SPE_HELPER_SOCK")
	if sock == "" {
		t.Skip("helper process of TestClientIsolationAcrossProcesses")
	}
	bufio.NewReader(os.Stdin).ReadString('\n') // wait until the parent knows our pid
	c, err := psaclient.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var ids []psa.KeyID
	for _, s := range bytes.Split([]byte(os.Getenv("RAMPART_SPE_HELPER_KEYS")), []byte(",")) {
		n, _ := strconv.Atoi(string(s))
		ids = append(ids, psa.KeyID(n))
	}
	res := map[string]string{}
	rec := func(name string, err error) {
		var st psa.Status
		switch {
		case err == nil:
			res[name] = "ok"
		case errors.As(err, &st):
			res[name] = st.Error()
		default:
			res[name] = err.Error()
		}
	}
	for _, id := range ids {
		p := fmt.Sprintf("key %d ", id)
		_, err := c.ExportKey(id)
		rec(p+"export", err)
		_, err = c.CipherEncrypt(id, psa.AlgCTR, []byte("x"))
		rec(p+"use", err)
		_, err = c.KeyAttributes(id)
		rec(p+"attributes", err)
		_, err = c.CopyKey(id, psa.KeyAttributes{Usage: psa.UsageExport, Algorithm: psa.AlgCTR})
		rec(p+"copy", err)
		rec(p+"purge", c.PurgeKey(id))
		rec(p+"destroy", c.DestroyKey(id))
	}
	// B may use the same ID for its own key: IDs are per client.
	_, err = c.ImportKey(psa.KeyAttributes{Type: psa.KeyTypeAES, Lifetime: psa.LifetimePersistent, ID: 7, Usage: psa.UsageExport}, make([]byte, 16))
	rec("own key 7", err)
	list, err := c.ListKeys()
	if err == nil && len(list) != 1 {
		err = fmt.Errorf("list shows %d keys, want only B's own", len(list))
	}
	rec("list", err)
	b, _ := json.Marshal(res)
	fmt.Printf("RESULT %s\n", b)
}

// A secure partition (positive client ID) using the crypto service in
// process keeps its keys out of every non-secure client's namespace.
func TestSecurePartitionKeysAreItsOwn(t *testing.T) {
	e := startSPE(t, "", nil)
	part := localClient(t, e.srv, 5)
	iak, err := part.GenerateKey(psa.KeyAttributes{Type: secp, Bits: 256, Lifetime: psa.LifetimePersistent, ID: 1, Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgSHA256)})
	if err != nil {
		t.Fatal(err)
	}
	ns := e.dial(t)
	if _, err := ns.SignHash(iak, psa.AlgECDSA(psa.AlgSHA256), make([]byte, 32)); !errors.Is(err, psa.ErrInvalidHandle) {
		t.Fatalf("non-secure client used the partition's key: %v", err)
	}
	if _, err := part.SignHash(iak, psa.AlgECDSA(psa.AlgSHA256), make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
}
