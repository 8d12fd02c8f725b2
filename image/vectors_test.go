package image

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const vecDir = "testdata/mcuboot"

func readVec(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vecDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func keyVec(t testing.TB, name string) any {
	t.Helper()
	k, err := ParseKeyPEM(readVec(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return k
}

// vectorImages lists every .bin image of the vector folder with its signing
// key (from the file name) and decrypt key (for enc/).
func vectorImages(t testing.TB) []struct{ file, key, dec string } {
	var out []struct{ file, key, dec string }
	for _, pat := range []string{"*.bin", "enc/*.bin"} {
		m, _ := filepath.Glob(filepath.Join(vecDir, pat))
		for _, f := range m {
			rel, _ := filepath.Rel(vecDir, f)
			base := filepath.Base(rel)
			if base == "input.bin" || strings.HasSuffix(base, ".pubhash.bin") {
				continue
			}
			e := struct{ file, key, dec string }{file: rel}
			if base != "unsigned.bin" {
				e.key = strings.SplitN(base, ".", 2)[0] + ".pem"
			}
			if strings.HasPrefix(rel, "enc/") {
				kind := strings.SplitN(strings.SplitN(base, ".", 2)[1], ".", 2)[0] // enc-x25519[-aes256-sha512]
				kind = strings.TrimSuffix(kind, "-aes256-sha512")
				e.dec = "enc/" + kind + "-priv.pem"
			}
			out = append(out, e)
		}
	}
	if len(out) < 20 {
		t.Fatalf("only %d vector images found", len(out))
	}
	return out
}

func TestVerifyVectors(t *testing.T) {
	for _, v := range vectorImages(t) {
		t.Run(v.file, func(t *testing.T) {
			img, err := Parse(readVec(t, v.file))
			if err != nil {
				t.Fatal(err)
			}
			opts := VerifyOptions{}
			if v.key != "" {
				opts.Keys = []any{keyVec(t, v.key)}
			}
			if v.dec != "" {
				opts.DecryptKey = keyVec(t, v.dec)
			}
			res, err := img.Verify(opts)
			if err != nil {
				t.Fatal(err)
			}
			if v.key != "" && !res.Signed {
				t.Fatal("not reported as signed")
			}
			if v.dec != "" {
				return // imgtool keeps no verify output for encrypted images
			}
			// imgtool's verify output names the digest it computed.
			txt := string(readVec(t, strings.TrimSuffix(v.file, ".bin")+".verify.txt"))
			if !strings.Contains(txt, "Image was correctly validated") {
				t.Fatalf("imgtool did not validate this vector?\n%s", txt)
			}
			if strings.Contains(txt, "Image digest: ") && !strings.Contains(txt, "Image digest: "+hexs(res.Digest)) {
				t.Errorf("digest %x not in imgtool's output:\n%s", res.Digest, txt)
			}
			if !strings.Contains(txt, "Image version: "+img.Header.Ver.String()) {
				t.Errorf("version %s not in imgtool's output", img.Header.Ver)
			}
		})
	}
}

func hexs(b []byte) string {
	const d = "0123456789abcdef"
	var s strings.Builder
	for _, c := range b {
		s.WriteByte(d[c>>4])
		s.WriteByte(d[c&15])
	}
	return s.String()
}

// vecSignOptions are the README's common options.
func vecSignOptions(t testing.TB, key string) *SignOptions {
	o := &SignOptions{HeaderSize: 0x200, PadHeader: true, SlotSize: 0x20000,
		Version: Version{Major: 1, Minor: 2, Revision: 3, Build: 4}}
	if key != "" {
		o.Key = keyVec(t, key).(cryptoSigner)
	}
	return o
}

func TestReproduceEd25519Vectors(t *testing.T) {
	u32 := func(v uint32) *uint32 { return &v }
	cases := map[string]func(o *SignOptions){
		"ed25519.signed.bin":         func(o *SignOptions) {},
		"ed25519.seccnt7.bin":        func(o *SignOptions) { o.SecurityCounter = u32(7) },
		"ed25519.seccntauto.bin":     func(o *SignOptions) { o.SecurityCounter = u32(o.Version.SecurityCounter()) },
		"ed25519.seccnt7.pad.bin":    func(o *SignOptions) { o.SecurityCounter = u32(7); o.Pad = true },
		"ed25519.pad.confirm.bin":    func(o *SignOptions) { o.Pad = true; o.Confirm = true },
		"ed25519.fullkey.bin":        func(o *SignOptions) { o.PublicKeyFormat = KeyFormatFull },
		"ed25519.sha512.bin":         func(o *SignOptions) { o.HashBits = 512 },
		"ed25519.pure.bin":           func(o *SignOptions) { o.Pure = true },
		"ed25519.pad.maxalign16.bin": func(o *SignOptions) { o.Pad = true; o.Align = 4; o.MaxAlign = 16 },
		"ed25519.pad.overwrite.bin":  func(o *SignOptions) { o.Pad = true; o.Overwrite = true },
		"ed25519.prot.bin": func(o *SignOptions) {
			o.SecurityCounter = u32(3)
			o.Dependencies = []Dependency{{ImageID: 1, Version: Version{Major: 2}}}
			o.BootRecord = "SPE"
			o.CustomTLVs = []TLV{{Type: 0xa0, Value: []byte{1, 2, 3, 4}}}
		},
	}
	in := readVec(t, "input.bin")
	m, _ := filepath.Glob(filepath.Join(vecDir, "ed25519.*.bin"))
	n := 0
	for _, f := range m {
		name := filepath.Base(f)
		if strings.HasSuffix(name, ".pubhash.bin") {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			mod, ok := cases[name]
			if !ok {
				t.Fatalf("no options known for Ed25519 vector %s: add them", name)
			}
			o := vecSignOptions(t, "ed25519.pem")
			mod(o)
			res, err := Sign(in, o)
			if err != nil {
				t.Fatal(err)
			}
			want := readVec(t, name)
			if !bytes.Equal(res.Bytes, want) {
				t.Fatalf("differs from imgtool's output (%d vs %d bytes) at offset %d", len(res.Bytes), len(want), firstDiff(res.Bytes, want))
			}
		})
	}
	if n != len(cases) {
		t.Errorf("%d Ed25519 vectors, %d cases", n, len(cases))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestVectorChecksums(t *testing.T) {
	sums := string(readVec(t, "SHA256SUMS"))
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(sums), "\n") {
		want, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("bad SHA256SUMS line %q", line)
		}
		got := sha256.Sum256(readVec(t, strings.TrimPrefix(name, "./")))
		if hexs(got[:]) != want {
			t.Errorf("%s: checksum differs from SHA256SUMS", name)
		}
		n++
	}
	if n < 20 {
		t.Fatalf("only %d checksums", n)
	}
}
