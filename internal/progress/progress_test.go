package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

func TestPlainLines(t *testing.T) {
	var b bytes.Buffer
	now := time.Unix(0, 0)
	l := NewWith(&b, Options{Every: time.Second, Now: func() time.Time { return now }})
	if l.Terminal() {
		t.Fatal("a buffer is a terminal")
	}
	l.Update("a 1/3")
	l.Update("a 1/3") // unchanged: nothing
	now = now.Add(100 * time.Millisecond)
	l.Update("a 2/3") // too soon: nothing
	now = now.Add(time.Second)
	l.Update("a 2/3")
	l.Done("a 3/3")
	l.Done("a 3/3") // unchanged: nothing
	if got := b.String(); got != "a 1/3\na 2/3\na 3/3\n" {
		t.Fatalf("plain output %q", got)
	}
}

func TestTerminalLine(t *testing.T) {
	var b bytes.Buffer
	yes := true
	l := NewWith(&b, Options{Terminal: &yes})
	l.Update("x 1")
	l.Update("x 2")
	l.Done("x done")
	if got := b.String(); got != "\r\x1b[Kx 1\r\x1b[Kx 2\r\x1b[Kx done\n" {
		t.Fatalf("terminal output %q", got)
	}
}

func TestIsTerminal(t *testing.T) {
	if IsTerminal(&bytes.Buffer{}) {
		t.Fatal("buffer")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Fatal("a regular file is a terminal")
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if IsTerminal(null) {
		t.Fatal(os.DevNull + " is a terminal")
	}
	if strings.Contains(os.Getenv("TERM"), "dumb") && IsTerminal(os.Stderr) {
		t.Fatal("TERM=dumb redraws")
	}
}
