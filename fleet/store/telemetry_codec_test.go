package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func samplePoints() []Point {
	t0 := time.UnixMilli(1_764_000_000_000).UTC()
	return []Point{
		{DeviceID: "dev-1", Metric: "temp", Time: t0, Value: 21.5},
		{DeviceID: "dev-2", Metric: "temp", Time: t0.Add(-time.Hour), Value: -3},
		{DeviceID: "dev-1", Metric: "rssi", Time: t0.Add(time.Millisecond), Value: math.MaxFloat64},
		{DeviceID: "dev-1", Metric: "temp", Time: time.Time{}, Value: 0},
	}
}

func TestBatchRoundTrip(t *testing.T) {
	pts := samplePoints()
	data, tMin, tMax, err := encodeBatch(pts)
	if err != nil {
		t.Fatal(err)
	}
	if tMin != 0 || tMax != ms(pts[2].Time) {
		t.Fatalf("range %d..%d", tMin, tMax)
	}
	b, err := decodeBatch(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.dict) != 4 || len(b.pts) != len(pts) {
		t.Fatalf("dictionary %q, %d samples", b.dict, len(b.pts))
	}
	for i, p := range b.pts {
		if b.dict[p.dev] != pts[i].DeviceID || b.dict[p.metric] != pts[i].Metric || p.ts != ms(pts[i].Time) || p.v != pts[i].Value {
			t.Fatalf("sample %d = %+v, want %+v", i, p, pts[i])
		}
	}
}

func TestChunkRoundTrip(t *testing.T) {
	ts := []int64{-5, 0, 0, 7, math.MaxInt64}
	vs := []float64{1, 2, 3, 4, 5}
	data, err := encodeChunk(ts, vs)
	if err != nil {
		t.Fatal(err)
	}
	gt, gv, err := decodeChunk(data)
	if err != nil || len(gt) != 5 || gt[4] != math.MaxInt64 || gt[0] != -5 || gv[3] != 4 {
		t.Fatalf("decodeChunk = %v %v %v", gt, gv, err)
	}
	if _, err := encodeChunk([]int64{2, 1}, []float64{1, 2}); err == nil {
		t.Fatal("unsorted chunk encoded")
	}
	if _, err := encodeChunk(nil, nil); err == nil {
		t.Fatal("empty chunk encoded")
	}
}

// Every proper prefix of a valid blob is refused with ErrCodec, naming what
// was being read.
func TestDecodeTruncated(t *testing.T) {
	batch, _, _, _ := encodeBatch(samplePoints())
	chunk, _ := encodeChunk([]int64{1, 2, 300}, []float64{1, 2, 3})
	for name, c := range map[string]struct {
		data   []byte
		decode func([]byte) error
	}{
		"batch": {batch, func(b []byte) error { _, err := decodeBatch(b); return err }},
		"chunk": {chunk, func(b []byte) error { _, _, err := decodeChunk(b); return err }},
	} {
		for n := range len(c.data) {
			err := c.decode(c.data[:n])
			if !errors.Is(err, ErrCodec) || !strings.Contains(err.Error(), name) {
				t.Fatalf("%s truncated to %d bytes: %v", name, n, err)
			}
			if n > 2 && !strings.Contains(err.Error(), "truncated") && !strings.Contains(err.Error(), "needs at least") {
				t.Fatalf("%s truncated to %d bytes: %v does not say so", name, n, err)
			}
		}
		if err := c.decode(append(bytes.Clone(c.data), 0)); err == nil || !strings.Contains(err.Error(), "trailing") {
			t.Fatalf("%s with a trailing byte: %v", name, err)
		}
	}
}

func uv(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

// Malformed and hostile blobs are refused before any large allocation,
// with an error naming the field.
func TestDecodeMalformed(t *testing.T) {
	hdrB, hdrC := []byte{batchKind, codecVersion}, []byte{chunkKind, codecVersion}
	point := func(b []byte, d, m uint64) []byte {
		b = uv(uv(b, d), m)
		b = binary.AppendVarint(b, 5)
		return binary.LittleEndian.AppendUint64(b, 0)
	}
	dict1 := uv(uv(bytes.Clone(hdrB), 1), 1)
	dict1 = append(dict1, 'a')
	for _, c := range []struct {
		name, want string
		data       []byte
		batch      bool
	}{
		{"empty", "truncated header", nil, true},
		{"wrong kind", "kind byte", []byte{chunkKind, codecVersion, 0, 0}, true},
		{"chunk as batch", "kind byte", hdrC, true},
		{"newer version", "format version 2", []byte{batchKind, 2, 0, 0}, true},
		{"hostile dictionary size", "dictionary size", uv(bytes.Clone(hdrB), 1<<40), true},
		{"dictionary larger than data", "dictionary size 1000 needs at least 2000 bytes", uv(bytes.Clone(hdrB), 1000), true},
		{"hostile string length", "string 0 length 1099511627776 exceeds", uv(uv(bytes.Clone(hdrB), 1), 1<<40), true},
		{"string past the end", "string 0 length 9 needs", append(uv(uv(bytes.Clone(hdrB), 1), 9), 'x'), true},
		{"empty string", "string 0 is empty", append(uv(uv(bytes.Clone(hdrB), 1), 0), 0, 0), true},
		{"hostile sample count", "sample count 1099511627776 exceeds", uv(bytes.Clone(dict1), 1<<40), true},
		{"samples larger than data", "sample count 3 needs at least 33 bytes", point(uv(bytes.Clone(dict1), 3), 0, 0), true},
		{"index outside dictionary", "sample 0: string index 0/1 outside the dictionary of 1", point(uv(bytes.Clone(dict1), 1), 0, 1), true},
		{"varint overflow", "sample 0 device: varint overflows", append(uv(bytes.Clone(dict1), 1), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0), true},
		{"batch kind as chunk", "kind byte", hdrB, false},
		{"hostile chunk count", "sample count 1099511627776 exceeds the limit 65536", uv(bytes.Clone(hdrC), 1<<40), false},
		{"chunk count larger than data", "sample count 100 needs at least 900 bytes", append(uv(bytes.Clone(hdrC), 100), 0, 0), false},
		{"empty chunk", "empty chunk", uv(bytes.Clone(hdrC), 0), false},
		{"time overflow", "sample 1: time gap", append(binary.AppendVarint(uv(bytes.Clone(hdrC), 2), math.MaxInt64-1), append(uv(nil, 2), make([]byte, 16)...)...), false},
		{"values missing", "truncated reading values", append(binary.AppendVarint(uv(bytes.Clone(hdrC), 2), 0), append(uv(nil, 200), make([]byte, 15)...)...), false},
	} {
		var err error
		if c.batch {
			_, err = decodeBatch(c.data)
		} else {
			_, _, err = decodeChunk(c.data)
		}
		if !errors.Is(err, ErrCodec) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want %q", c.name, err, c.want)
		}
	}
}

func TestEncodeBatchRefuses(t *testing.T) {
	long := strings.Repeat("x", maxTelemetryString+1)
	for name, p := range map[string]Point{
		"long device": {DeviceID: long, Metric: "m"},
		"long metric": {DeviceID: "d", Metric: long},
		"NaN":         {DeviceID: "d", Metric: "m", Value: math.NaN()},
	} {
		if _, _, _, err := encodeBatch([]Point{p}); err == nil || !strings.Contains(err.Error(), "sample 0") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzDecodeBatch: hostile batch blobs (a corrupted or tampered database)
// never panic; what decodes re-encodes to the same samples.
func FuzzDecodeBatch(f *testing.F) {
	good, _, _, _ := encodeBatch(samplePoints())
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{batchKind, codecVersion, 0, 0})
	f.Add([]byte{batchKind, codecVersion, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{chunkKind, codecVersion, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := decodeBatch(data)
		if err != nil {
			if !errors.Is(err, ErrCodec) {
				t.Fatalf("error without ErrCodec: %v", err)
			}
			return
		}
		pts := make([]Point, len(b.pts))
		for i, p := range b.pts {
			if math.IsNaN(p.v) || math.IsInf(p.v, 0) || p.ts == 0 {
				return // refused by the encoder, or the zero time: not a round trip
			}
			pts[i] = Point{DeviceID: b.dict[p.dev], Metric: b.dict[p.metric], Time: fromMS(p.ts), Value: p.v}
		}
		again, _, _, err := encodeBatch(pts)
		if err != nil {
			t.Fatalf("decoded samples do not encode: %v", err)
		}
		b2, err := decodeBatch(again)
		if err != nil || len(b2.pts) != len(b.pts) {
			t.Fatalf("re-encoded batch: %v", err)
		}
		for i, p := range b2.pts {
			q := b.pts[i]
			if b2.dict[p.dev] != b.dict[q.dev] || b2.dict[p.metric] != b.dict[q.metric] || p.ts != q.ts || p.v != q.v {
				t.Fatalf("sample %d changed: %+v -> %+v", i, q, p)
			}
		}
	})
}

// FuzzDecodeChunk: hostile chunk blobs never panic; what decodes is sorted
// and re-encodes to the same samples.
func FuzzDecodeChunk(f *testing.F) {
	good, _ := encodeChunk([]int64{1, 2, 2, 1000}, []float64{1, 2, 3, 4})
	f.Add(good)
	f.Add(good[:5])
	f.Add([]byte{chunkKind, codecVersion, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{chunkKind, codecVersion, 0xff, 0xff, 0x03})
	f.Add([]byte{batchKind, codecVersion})
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, vs, err := decodeChunk(data)
		if err != nil {
			if !errors.Is(err, ErrCodec) {
				t.Fatalf("error without ErrCodec: %v", err)
			}
			return
		}
		again, err := encodeChunk(ts, vs)
		if err != nil {
			t.Fatalf("decoded chunk does not encode: %v", err)
		}
		t2, v2, err := decodeChunk(again)
		if err != nil || len(t2) != len(ts) {
			t.Fatalf("re-encoded chunk: %v", err)
		}
		for i := range ts {
			if t2[i] != ts[i] || math.Float64bits(v2[i]) != math.Float64bits(vs[i]) {
				t.Fatalf("sample %d changed", i)
			}
		}
	})
}
