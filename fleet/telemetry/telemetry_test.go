package telemetry

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"rampart/fleet/store"
)

func TestParse(t *testing.T) {
	now := time.UnixMilli(1_764_000_000_000)
	pts, err := Parse("d1", []byte(`{"ts":1763999999000,"values":{"t":21.5,"rssi":-67}}`), now)
	if err != nil || len(pts) != 2 || pts[0].DeviceID != "d1" || !pts[0].Time.Equal(time.UnixMilli(1763999999000)) {
		t.Fatalf("Parse = %v, %v", pts, err)
	}
	pts, err = Parse("d1", []byte(`{"values":{"t":1}}`), now)
	if err != nil || !pts[0].Time.Equal(now) {
		t.Fatalf("default time: %v %v", pts, err)
	}
	for name, p := range map[string]string{
		"not json": `{`, "no values": `{"values":{}}`, "bad name": `{"values":{"a b":1}}`, "string value": `{"values":{"a":"1"}}`,
		"future": `{"ts":9999999999999,"values":{"a":1}}`, "negative ts": `{"ts":-1,"values":{"a":1}}`,
		"too many":  `{"values":{` + strings.Repeat(`"a":1,`, 0) + manyValues(MaxValues+1) + `}}`,
		"oversized": `{"values":{"a":1}}` + strings.Repeat(" ", MaxPayload),
	} {
		if _, err := Parse("d", []byte(p), now); !errors.Is(err, ErrPayload) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func manyValues(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"m` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `":1`)
	}
	return b.String()
}

func TestWriterGroupCommit(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var batches, samples int
	var mu sync.Mutex
	w := NewWriter(WriterConfig{Store: db, MaxDelay: 5 * time.Millisecond, OnCommit: func(n int, _ time.Duration) { mu.Lock(); batches++; samples += n; mu.Unlock() }})
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Store(context.Background(), "dev", []byte(`{"values":{"x":`+string(rune('0'+i%10))+`}}`)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Every Store returned: every sample is committed.
	if n, _ := db.CountPoints(context.Background()); n != 200 {
		t.Fatalf("%d samples stored after 200 acknowledged", n)
	}
	w.Close()
	if err := w.Store(context.Background(), "dev", []byte(`{"values":{"x":1}}`)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if samples != 200 || batches >= 200 {
		t.Fatalf("%d samples in %d batches: no grouping", samples, batches)
	}
}

func TestExport(t *testing.T) {
	pts := []store.Point{{DeviceID: "d", Metric: "t", Time: time.UnixMilli(1_764_000_000_123).UTC(), Value: 21.5}}
	var b bytes.Buffer
	if err := Export(&b, "csv", pts); err != nil {
		t.Fatal(err)
	}
	if b.String() != "device_id,metric,time,value\nd,t,2025-11-24T16:00:00.123Z,21.5\n" {
		t.Fatalf("csv %q", b.String())
	}
	b.Reset()
	Export(&b, "json", nil)
	if strings.TrimSpace(b.String()) != "[]" {
		t.Fatalf("empty json %q", b.String())
	}
	if err := Export(&b, "xml", pts); err == nil {
		t.Fatal("xml accepted")
	}
}
