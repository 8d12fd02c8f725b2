package capi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"rampart/capi"
	"rampart/psa"
	"rampart/psaclient"
)

var benchCAPI = flag.Bool("capi.bench", false, "run TestBenchCAPI: ECDSA P-256 sign and SHA-256 of 64 KiB through libpsa-rampart, psaclient and Mbed TLS")

// TestBenchCAPI (-capi.bench) times ECDSA P-256 sign_hash and SHA-256 of
// 64 KiB, in one run, three ways: C through libpsa-rampart to a live SPE,
// Go through psaclient to the same SPE, and C through Mbed TLS's in-process
// PSA implementation (Debian's libmbedcrypto, when installed). It reports
// ns per operation and the ratios to psaclient; it asserts no timing.
func TestBenchCAPI(t *testing.T) {
	if !*benchCAPI {
		t.Skip("a benchmark: run with -capi.bench")
	}
	needTools(t, "gcc", "go")
	const n, rounds = 100, 7
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	root := moduleRoot(t)
	work := t.TempDir()
	inst := filepath.Join(work, "inst")
	if _, err := capi.Build(ctx, capi.Options{Out: inst, Static: true, ModuleDir: root}); err != nil {
		t.Fatal(err)
	}
	rampart := filepath.Join(work, "rampart")
	run(t, ctx, root, nil, "go", "build", "-o", rampart, "./cmd/rampart")
	src, _ := filepath.Abs("testdata/bench_psa.c")
	benchRampart := filepath.Join(work, "bench_rampart")
	run(t, ctx, work, nil, "gcc", "-O2", "-o", benchRampart, src, "-I"+filepath.Join(inst, "include"),
		filepath.Join(inst, "lib", "libpsa-rampart.a"), "-lpthread")
	benchMbed := filepath.Join(work, "bench_mbedtls")
	mbed := exec.CommandContext(ctx, "gcc", "-O2", "-o", benchMbed, src, "-lmbedcrypto").Run() == nil

	spe := startSPE(t, rampart, false)
	type row struct{ sign, sha float64 }
	parse := func(out []byte) row {
		var r row
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 2 {
				v, _ := strconv.ParseFloat(f[1], 64)
				switch f[0] {
				case "ecdsa_p256_sign_ns":
					r.sign = v
				case "sha256_64k_ns":
					r.sha = v
				}
			}
		}
		return r
	}

	c, err := psaclient.Dial(spe.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id, err := c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeECCKeyPair(psa.ECCFamilySECPR1), Bits: 256,
		Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgSHA256)})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 64<<10)
	for i := range data {
		data[i] = byte(i)
	}
	digest := sha256.Sum256(data[:32])
	goClient := func() row {
		for i := 0; i < n/10+1; i++ {
			if _, err := c.SignHash(id, psa.AlgECDSA(psa.AlgSHA256), digest[:]); err != nil {
				t.Fatal(err)
			}
		}
		t0 := time.Now()
		for i := 0; i < n; i++ {
			if _, err := c.SignHash(id, psa.AlgECDSA(psa.AlgSHA256), digest[:]); err != nil {
				t.Fatal(err)
			}
		}
		t1 := time.Now()
		for i := 0; i < n; i++ {
			if _, err := c.HashCompute(psa.AlgSHA256, data); err != nil {
				t.Fatal(err)
			}
		}
		t2 := time.Now()
		return row{float64(t1.Sub(t0).Nanoseconds()) / n, float64(t2.Sub(t1).Nanoseconds()) / n}
	}
	// Rounds interleave the three, and the median of each is reported, so
	// a change in the machine's load touches all three alike.
	samples := map[string][]row{}
	for round := 0; round < rounds; round++ {
		samples["C libpsa-rampart -> SPE"] = append(samples["C libpsa-rampart -> SPE"],
			parse(run(t, ctx, work, []string{"RAMPART_SPE_SOCKET=" + spe.sock}, benchRampart, strconv.Itoa(n))))
		samples["Go psaclient -> SPE"] = append(samples["Go psaclient -> SPE"], goClient())
		if mbed {
			samples["C Mbed TLS 2.28 in-process"] = append(samples["C Mbed TLS 2.28 in-process"],
				parse(run(t, ctx, work, nil, benchMbed, strconv.Itoa(n))))
		}
	}
	if !mbed {
		t.Log("Mbed TLS (libmbedtls-dev) not installed: its row is left out")
	}
	median := func(v []float64) float64 {
		slices.Sort(v)
		return v[len(v)/2]
	}
	res := map[string]row{}
	for k, rs := range samples {
		var sign, sha []float64
		for _, r := range rs {
			sign, sha = append(sign, r.sign), append(sha, r.sha)
		}
		res[k] = row{median(sign), median(sha)}
	}
	base := res["Go psaclient -> SPE"]
	var b strings.Builder
	fmt.Fprintf(&b, "median of %d interleaved rounds of %d operations each, same run:\n%-28s %14s %8s %14s %8s\n", rounds, n, "", "P-256 sign", "ratio", "SHA-256 64KiB", "ratio")
	for _, k := range []string{"C libpsa-rampart -> SPE", "Go psaclient -> SPE", "C Mbed TLS 2.28 in-process"} {
		r, ok := res[k]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "%-28s %11.1f us %7.2fx %11.1f us %7.2fx\n", k, r.sign/1e3, r.sign/base.sign, r.sha/1e3, r.sha/base.sha)
	}
	t.Log("\n" + b.String())
}
