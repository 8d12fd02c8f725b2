package image

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestDumpInfoMatchesImgtool compares the text and YAML output with imgtool
// dumpinfo's, stored next to every vector, byte for byte.
func TestDumpInfoMatchesImgtool(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(vecDir, "*.dumpinfo.txt"))
	if len(files) < 15 {
		t.Fatalf("only %d dumpinfo files", len(files))
	}
	for _, txt := range files {
		name := strings.TrimSuffix(filepath.Base(txt), ".dumpinfo.txt") + ".bin"
		d, err := NewDumpInfo(name, readVec(t, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for f, golden := range map[DumpFormat]string{DumpText: ".dumpinfo.txt", DumpYAML: ".dumpinfo.yaml"} {
			var b bytes.Buffer
			if err := d.Write(&b, f); err != nil {
				t.Fatal(err)
			}
			if want := readVec(t, strings.TrimSuffix(name, ".bin")+golden); !bytes.Equal(b.Bytes(), want) {
				t.Errorf("%s: %s output differs from imgtool's", name, golden)
			}
		}
	}
}

// TestDumpInfoJSON: dumpinfo's keys in its order, TLV data as hex.
func TestDumpInfoJSON(t *testing.T) {
	data := readVec(t, "ed25519.pad.confirm.bin")
	d, err := NewDumpInfo("x.bin", data)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := d.Write(&b, DumpJSON); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "{\n  \"filename\": \"x.bin\",\n  \"header\": {\n    \"magic\": 2532554813,") {
		t.Fatalf("key order: %.120s", b.String())
	}
	var v struct {
		TLVArea struct {
			TLVs []struct {
				Type uint16 `json:"type"`
				Data string `json:"data"`
			} `json:"tlvs"`
		} `json:"tlv_area"`
		Trailer map[string]any `json:"trailer"`
	}
	if err := json.Unmarshal(b.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	img, _ := Parse(data)
	if len(v.TLVArea.TLVs) != len(img.Unprotected.TLVs) {
		t.Fatalf("%d TLVs, want %d", len(v.TLVArea.TLVs), len(img.Unprotected.TLVs))
	}
	for i, e := range v.TLVArea.TLVs {
		if g := img.Unprotected.TLVs[i]; e.Type != g.Type || e.Data != hex.EncodeToString(g.Value) {
			t.Errorf("TLV %d: %d %s", i, e.Type, e.Data)
		}
	}
	if v.Trailer["image_ok"] != float64(1) {
		t.Errorf("trailer %v", v.Trailer)
	}
}

// TestDumpInfoRefusesBadImages: the structure is checked before anything
// is printed.
func TestDumpInfoRefusesBadImages(t *testing.T) {
	data := readVec(t, "ed25519.signed.bin")
	if _, err := NewDumpInfo("t.bin", data[:100]); err == nil {
		t.Fatal("truncated image accepted")
	}
	if err := (&DumpInfo{}).Write(&bytes.Buffer{}, DumpFormat(9)); err == nil {
		t.Fatal("unknown format accepted")
	}
}
