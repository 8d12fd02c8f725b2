package ihex

import (
	"bytes"
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	m := &Memory{}
	data := make([]byte, 70000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	m.Put(0x0800fff0, data)
	m.Put(0x08100000, []byte{1, 2, 3})
	text := m.Marshal()
	got, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Marshal(), text) {
		t.Fatal("re-marshal differs")
	}
	base, bin := got.ToBinary(0xff)
	if base != 0x0800fff0 || !bytes.Equal(bin[:len(data)], data) || bin[len(bin)-1] != 3 {
		t.Fatalf("binary differs: base 0x%x len %d", base, len(bin))
	}
	if bin[len(data)] != 0xff {
		t.Fatal("gap not padded")
	}
}

func TestKnownEncoding(t *testing.T) {
	// A record as any Intel HEX tool writes it.
	m := &Memory{}
	m.Put(0x0100, []byte{0x21, 0x46, 0x01, 0x36, 0x01, 0x21, 0x47, 0x01, 0x36, 0x00, 0x7E, 0xFE, 0x09, 0xD2, 0x19, 0x01})
	want := ":10010000214601360121470136007EFE09D2190140\n:00000001FF\n"
	if got := string(m.Marshal()); got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestOverwrite(t *testing.T) {
	m := &Memory{}
	m.Put(10, []byte{1, 1, 1, 1})
	m.Put(12, []byte{2, 2, 2})
	_, b := m.ToBinary(0)
	if !bytes.Equal(b, []byte{1, 1, 2, 2, 2}) || len(m.Segments()) != 1 {
		t.Fatalf("got %v (%d segments)", b, len(m.Segments()))
	}
}

func TestBadInput(t *testing.T) {
	valid := ":10010000214601360121470136007EFE09D2190140\n:00000001FF\n"
	for name, in := range map[string]string{
		"no colon":       "10010000214601360121470136007EFE09D2190140\n",
		"bad checksum":   ":10010000214601360121470136007EFE09D2190141\n",
		"odd digits":     ":1001000021460136012147013600\n",
		"short length":   ":0F010000214601360121470136007EFE09D2190140\n",
		"unknown type":   ":00000006FA\n",
		"after eof":      valid + valid,
		"bad ext length": ":0300000400000FEE\n",
	} {
		if _, err := Parse([]byte(in)); !errors.Is(err, ErrSyntax) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	// every prefix cut inside a record is rejected
	for i := 1; i < len(valid); i++ {
		if valid[i] == '\n' || valid[i-1] == '\n' {
			continue // cut at a record boundary: a shorter, valid file
		}
		if _, err := Parse([]byte(valid[:i])); !errors.Is(err, ErrSyntax) {
			t.Errorf("prefix %d: got %v", i, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(":10010000214601360121470136007EFE09D2190140\n:00000001FF\n"))
	f.Add([]byte(":020000040800F2\n:0400000001020304F2\n:00000001FF\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		again, err := Parse(m.Marshal())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		_, x := m.ToBinary(0)
		_, y := again.ToBinary(0)
		if !bytes.Equal(x, y) {
			t.Fatal("round trip changed the data")
		}
	})
}
