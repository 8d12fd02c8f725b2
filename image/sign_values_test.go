package image

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParseDependencies(t *testing.T) {
	got, err := ParseDependencies("(0,1.0.0+0), (2,3.4.5+6)")
	want := []Dependency{{0, Version{1, 0, 0, 0}}, {2, Version{3, 4, 5, 6}}}
	if err != nil || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"", "1.0.0", "(1,2.0.0", "(256,1.0.0)", "(1,1.x)", "(1,01.0.0)"} {
		if _, err := ParseDependencies(bad); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "dependencies") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func FuzzParseDependencies(f *testing.F) {
	for _, s := range []string{"(0,1.0.0+0), (2,3.4.5+6)", "(1,2)", "(1, 2.3.4)", "(255,1.2.3+4294967295)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		deps, err := ParseDependencies(s)
		if err != nil {
			return
		}
		var parts []string
		for _, d := range deps {
			parts = append(parts, d.String())
		}
		again, err := ParseDependencies(strings.Join(parts, ", "))
		if err != nil || len(again) != len(deps) {
			t.Fatalf("%q: round trip %v", s, err)
		}
		for i := range deps {
			if again[i] != deps[i] {
				t.Fatalf("%q: round trip %v, want %v", s, again[i], deps[i])
			}
		}
	})
}

func TestParseCustomTLVValue(t *testing.T) {
	for in, want := range map[string][]byte{"0x0102": {1, 2}, "text": []byte("text"), "0x": {}, "0X01": []byte("0X01")} {
		if got, err := ParseCustomTLVValue(in); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%q: %x %v", in, got, err)
		}
	}
	for _, bad := range []string{"0x1", "0xzz"} {
		if _, err := ParseCustomTLVValue(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestParsePublicKeyFormat(t *testing.T) {
	if f, err := ParsePublicKeyFormat("full"); err != nil || f != KeyFormatFull {
		t.Fatal(f, err)
	}
	if f, err := ParsePublicKeyFormat("hash"); err != nil || f != KeyFormatHash {
		t.Fatal(f, err)
	}
	if _, err := ParsePublicKeyFormat("pem"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatal(err)
	}
}
