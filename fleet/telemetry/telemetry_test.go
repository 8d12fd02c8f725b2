package telemetry

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/store"
)

func TestParse(t *testing.T) {
	now := time.UnixMilli(1_764_000_000_000)
	pts, err := Parse("d1", []byte(`{"ts":1763999999000,"values":{"t":21.5,"rssi":-67}}`), now, 0)
	if err != nil || len(pts) != 2 || pts[0].DeviceID != "d1" || !pts[0].Time.Equal(time.UnixMilli(1763999999000)) {
		t.Fatalf("Parse = %v, %v", pts, err)
	}
	pts, err = Parse("d1", []byte(`{"values":{"t":1}}`), now, 0)
	if err != nil || !pts[0].Time.Equal(now) {
		t.Fatalf("default time: %v %v", pts, err)
	}
	for name, p := range map[string]string{
		"not json": `{`, "no values": `{"values":{}}`, "bad name": `{"values":{"a b":1}}`, "string value": `{"values":{"a":"1"}}`,
		"future": `{"ts":9999999999999,"values":{"a":1}}`, "negative ts": `{"ts":-1,"values":{"a":1}}`,
		"too many":  `{"values":{` + strings.Repeat(`"a":1,`, 0) + manyValues(deviceproto.MaxTelemetryValues+1) + `}}`,
		"oversized": `{"values":{"a":1}}` + strings.Repeat(" ", deviceproto.MaxTelemetrySize),
	} {
		if _, err := Parse("d", []byte(p), now, 0); !errors.Is(err, ErrPayload) {
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
	// Submissions from one goroutine, without waiting: answered in order.
	var order []int
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		err := w.Submit("dev", []byte(`{"values":{"x":`+strconv.Itoa(i)+`}}`), func(err error) {
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			wg.Done()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	// Every submission was answered: every sample is committed.
	if n, _ := db.CountPoints(context.Background()); n != 200 {
		t.Fatalf("%d samples stored after 200 acknowledged", n)
	}
	mu.Lock()
	for i, v := range order {
		if v != i {
			t.Fatalf("answer %d is for submission %d: out of order", i, v)
		}
	}
	if samples != 200 || batches >= 200 {
		t.Fatalf("%d samples in %d batches: no grouping", samples, batches)
	}
	mu.Unlock()
	// The blocking form.
	if err := w.Write(context.Background(), []store.Point{{DeviceID: "dev", Metric: "y", Time: time.Now(), Value: 1}}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w.Close() // idempotent
	got := make(chan error, 1)
	if err := w.Submit("dev", []byte(`{"values":{"x":1}}`), func(err error) { got <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-got; !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if err := w.Write(context.Background(), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
}

func TestWriterRefusalAndFailure(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(WriterConfig{Store: db})
	defer w.Close()
	// A malformed payload is refused at once; done is never called.
	err = w.Submit("dev", []byte(`{"values":{"bad name":1}}`), func(error) { t.Error("done called for a refused payload") })
	if !errors.Is(err, ErrPayload) {
		t.Fatalf("malformed payload: %v", err)
	}
	// A store that fails: done gets the error, never nil.
	db.Close()
	got := make(chan error, 1)
	if err := w.Submit("dev", []byte(`{"values":{"x":1}}`), func(err error) { got <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err == nil {
		t.Fatal("a failed commit was reported as committed")
	}
}

// TestWriterCloseAnswersEveryone: submissions racing with Close are each
// answered exactly once, committed or ErrClosed, never left waiting.
func TestWriterCloseAnswersEveryone(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := NewWriter(WriterConfig{Store: db})
	var answered, committed, submitted atomic.Int64
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				submitted.Add(1)
				err := w.Submit("dev"+strconv.Itoa(g), []byte(`{"values":{"x":`+strconv.Itoa(i)+`}}`), func(err error) {
					answered.Add(1)
					if err == nil {
						committed.Add(1)
					} else if !errors.Is(err, ErrClosed) {
						t.Error(err)
					}
				})
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	time.Sleep(time.Millisecond)
	w.Close()
	wg.Wait()
	if answered.Load() != submitted.Load() {
		t.Fatalf("%d of %d submissions answered", answered.Load(), submitted.Load())
	}
	if n, _ := db.CountPoints(context.Background()); n != committed.Load() {
		t.Fatalf("%d samples stored, %d reported committed", n, committed.Load())
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

// TestSubmitMatchesParse: the writer's one-sample path (no slice of its
// own) accepts, refuses and stores exactly what Parse does.
func TestSubmitMatchesParse(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.UnixMilli(1764000000000)
	w := NewWriter(WriterConfig{Store: db, Now: func() time.Time { return now }, Retention: time.Hour})
	defer w.Close()
	payloads := []string{
		`{"ts":1763999999000,"values":{"t":21.5}}`, `{"values":{"t":1}}`, `{"ts":1763999999000,"values":{"a":1,"b":2}}`,
		`{"values":{"a b":1}}`, `{"ts":9999999999999,"values":{"a":1}}`, `{"ts":-1,"values":{"a":1}}`,
		`{"ts":1000,"values":{"a":1}}`, `{"values":{}}`, `{"ts":99999999999999999999,"values":{"a":1}}`,
		`{"values":{"a":1e400}}`, `{"values": {"x\u0041":2}}`,
	}
	for i, p := range payloads {
		dev := "dev" + strconv.Itoa(i)
		want, perr := Parse(dev, []byte(p), now, time.Hour)
		ch := make(chan error, 1)
		serr := w.Submit(dev, []byte(p), func(err error) { ch <- err })
		if (perr == nil) != (serr == nil) {
			t.Fatalf("%s: Parse error %v, Submit error %v", p, perr, serr)
		}
		if serr != nil {
			continue
		}
		if err := <-ch; err != nil {
			t.Fatalf("%s: commit: %v", p, err)
		}
		got, err := db.Points(context.Background(), store.PointQuery{DeviceID: dev})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: stored %v, Parse gave %v", p, got, want)
		}
		for j := range got {
			if got[j].Metric != want[j].Metric || got[j].Value != want[j].Value || !got[j].Time.Equal(want[j].Time) {
				t.Errorf("%s: stored %+v, Parse gave %+v", p, got[j], want[j])
			}
		}
	}
}
