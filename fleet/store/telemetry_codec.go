package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The two telemetry blob formats. Both start with a kind byte and a version
// byte so that a blob read from the wrong column, or written by a newer
// build, is refused instead of misread.
//
// Batch (telemetry_batches.data), one per InsertPoints call, samples in
// call order:
//
//	'B' 1
//	uvarint S, then S strings (uvarint length, bytes)   dictionary of ids and metrics
//	uvarint N, then N points:
//	  uvarint device (index into the dictionary)
//	  uvarint metric (index into the dictionary)
//	  varint  time (Unix ms) minus the previous point's (0 before the first)
//	  8 bytes value (IEEE 754, little endian)
//
// Chunk (telemetry_chunks.data), one series (device and metric are row
// columns), samples sorted by time:
//
//	'C' 1
//	uvarint N (1..maxChunkPoints)
//	varint  first time (Unix ms)
//	N-1 uvarint gaps to the previous time (times never decrease)
//	N × 8 bytes values (IEEE 754, little endian)
const (
	batchKind    = 'B'
	chunkKind    = 'C'
	codecVersion = 1

	// maxBatchPoints bounds one batch blob; InsertPoints splits a larger
	// call into several rows of one transaction.
	maxBatchPoints = 1 << 20
	// maxChunkPoints bounds what a chunk decoder accepts; compaction
	// writes at most chunkTarget.
	maxChunkPoints = 1 << 16
	// maxTelemetryString bounds a device id or metric name.
	maxTelemetryString = 4096

	minBatchPointBytes = 1 + 1 + 1 + 8 // two indexes, a time delta, a value
	minChunkPointBytes = 1 + 8         // a gap, a value
)

// ErrCodec: a telemetry blob is malformed (truncated, hostile counts, a
// format this build does not know). The store never writes one; finding one
// means corruption or tampering.
var ErrCodec = errors.New("store: bad telemetry blob")

// batch is a decoded batch blob.
type batch struct {
	dict []string
	pts  []batchPoint
}

type batchPoint struct {
	dev, metric uint32 // indexes into dict
	ts          int64
	v           float64
}

// encodeBatch encodes points (at most maxBatchPoints) and returns the blob
// and the time range of its samples.
func encodeBatch(points []Point) (data []byte, tMin, tMax int64, err error) {
	if len(points) > maxBatchPoints {
		return nil, 0, 0, fmt.Errorf("store: telemetry batch of %d samples exceeds %d", len(points), maxBatchPoints)
	}
	index := make(map[string]uint32, 64)
	var dict []string
	idx := func(s string) uint32 {
		if i, ok := index[s]; ok {
			return i
		}
		i := uint32(len(dict))
		index[s] = i
		dict = append(dict, s)
		return i
	}
	body := make([]byte, 0, len(points)*12)
	var prev int64
	tMin, tMax = math.MaxInt64, math.MinInt64
	for i, p := range points {
		if err := checkSample(i, p); err != nil {
			return nil, 0, 0, err
		}
		ts := ms(p.Time)
		tMin, tMax = min(tMin, ts), max(tMax, ts)
		body = binary.AppendUvarint(body, uint64(idx(p.DeviceID)))
		body = binary.AppendUvarint(body, uint64(idx(p.Metric)))
		body = binary.AppendVarint(body, ts-prev) // wraps consistently with the decoder
		body = binary.LittleEndian.AppendUint64(body, math.Float64bits(p.Value))
		prev = ts
	}
	n := 2 + binary.MaxVarintLen64*2 + len(body)
	for _, s := range dict {
		n += binary.MaxVarintLen64 + len(s)
	}
	data = make([]byte, 0, n)
	data = append(data, batchKind, codecVersion)
	data = binary.AppendUvarint(data, uint64(len(dict)))
	for _, s := range dict {
		data = binary.AppendUvarint(data, uint64(len(s)))
		data = append(data, s...)
	}
	data = binary.AppendUvarint(data, uint64(len(points)))
	data = append(data, body...)
	return data, tMin, tMax, nil
}

// checkSample refuses what the old per-row schema refused (empty names,
// non-finite values: SQLite stored NaN as NULL) and what the decoder would.
func checkSample(i int, p Point) error {
	switch {
	case p.DeviceID == "" || len(p.DeviceID) > maxTelemetryString:
		return fmt.Errorf("store: telemetry sample %d: device id of %d bytes: want 1..%d", i, len(p.DeviceID), maxTelemetryString)
	case p.Metric == "" || len(p.Metric) > maxTelemetryString:
		return fmt.Errorf("store: telemetry sample %d: metric name of %d bytes: want 1..%d", i, len(p.Metric), maxTelemetryString)
	case math.IsNaN(p.Value) || math.IsInf(p.Value, 0):
		return fmt.Errorf("store: telemetry sample %d: value %v is not finite", i, p.Value)
	}
	return nil
}

// reader decodes varints from a blob, remembering what it was reading
// when the data ran out.
type reader struct {
	what string // "batch" or "chunk"
	b    []byte
	off  int
}

func (r *reader) fail(format string, args ...any) error {
	return fmt.Errorf("%w: %s at byte %d: %s", ErrCodec, r.what, r.off, fmt.Sprintf(format, args...))
}

// name is a field's name for errors: field is a format with one %d for
// the index i ("sample %d time"), or a plain name when i < 0. Built only on
// failure: the decoders run over millions of samples a second.
func name(field string, i int) string {
	if i < 0 {
		return field
	}
	return fmt.Sprintf(field, i)
}

func (r *reader) uvarint(field string, i int) (uint64, error) {
	v, n := binary.Uvarint(r.b[r.off:])
	if n == 0 {
		return 0, r.fail("truncated reading %s", name(field, i))
	}
	if n < 0 {
		return 0, r.fail("%s: varint overflows 64 bits", name(field, i))
	}
	r.off += n
	return v, nil
}

// varint reads a zig-zag signed varint (encoding/binary's Varint form) as
// its unsigned varint, so that both share one bounds check.
func (r *reader) varint(field string, i int) (int64, error) {
	u, err := r.uvarint(field, i)
	return int64(u>>1) ^ -int64(u&1), err
}

func (r *reader) float(field string, i int) (float64, error) {
	if len(r.b)-r.off < 8 {
		return 0, r.fail("truncated reading %s", name(field, i))
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b[r.off:]))
	r.off += 8
	return v, nil
}

// count reads an element count and refuses one above limit or above what
// the remaining bytes could hold at minBytes an element: a hostile count
// must not make the decoder allocate.
func (r *reader) count(field string, i, limit, minBytes int) (int, error) {
	v, err := r.uvarint(field, i)
	if err != nil {
		return 0, err
	}
	if v > uint64(limit) {
		return 0, r.fail("%s %d exceeds the limit %d", name(field, i), v, limit)
	}
	if rest := len(r.b) - r.off; v*uint64(minBytes) > uint64(rest) {
		return 0, r.fail("%s %d needs at least %d bytes, %d left", name(field, i), v, v*uint64(minBytes), rest)
	}
	return int(v), nil
}

func (r *reader) header(kind byte) error {
	if len(r.b) < 2 {
		return r.fail("truncated header (%d bytes)", len(r.b))
	}
	if r.b[0] != kind {
		return r.fail("kind byte %#x, want %#x (%q)", r.b[0], kind, kind)
	}
	if r.b[1] != codecVersion {
		return r.fail("format version %d, this build reads %d", r.b[1], codecVersion)
	}
	r.off = 2
	return nil
}

func (r *reader) end() error {
	if r.off != len(r.b) {
		return r.fail("%d trailing bytes", len(r.b)-r.off)
	}
	return nil
}

// decodeBatch decodes a batch blob, checking every count and index.
func decodeBatch(data []byte) (*batch, error) {
	r := &reader{what: "batch", b: data}
	if err := r.header(batchKind); err != nil {
		return nil, err
	}
	ns, err := r.count("dictionary size", -1, 2*maxBatchPoints, 2)
	if err != nil {
		return nil, err
	}
	b := &batch{dict: make([]string, ns)}
	for i := range b.dict {
		l, err := r.count("string %d length", i, maxTelemetryString, 1)
		if err != nil {
			return nil, err
		}
		if l == 0 {
			return nil, r.fail("string %d is empty", i)
		}
		b.dict[i] = string(r.b[r.off : r.off+l])
		r.off += l
	}
	np, err := r.count("sample count", -1, maxBatchPoints, minBatchPointBytes)
	if err != nil {
		return nil, err
	}
	b.pts = make([]batchPoint, np)
	var ts int64
	for i := range b.pts {
		p := &b.pts[i]
		d, err := r.uvarint("sample %d device", i)
		if err != nil {
			return nil, err
		}
		m, err := r.uvarint("sample %d metric", i)
		if err != nil {
			return nil, err
		}
		if d >= uint64(ns) || m >= uint64(ns) {
			return nil, r.fail("sample %d: string index %d/%d outside the dictionary of %d", i, d, m, ns)
		}
		delta, err := r.varint("sample %d time", i)
		if err != nil {
			return nil, err
		}
		ts += delta
		if p.v, err = r.float("sample %d value", i); err != nil {
			return nil, err
		}
		p.dev, p.metric, p.ts = uint32(d), uint32(m), ts
	}
	return b, r.end()
}

// encodeChunk encodes one series' samples; ts must be sorted and hold
// 1..maxChunkPoints entries, as many as vs.
func encodeChunk(ts []int64, vs []float64) ([]byte, error) {
	if len(ts) == 0 || len(ts) > maxChunkPoints || len(ts) != len(vs) {
		return nil, fmt.Errorf("store: telemetry chunk of %d times and %d values: want 1..%d of each", len(ts), len(vs), maxChunkPoints)
	}
	data := make([]byte, 0, 2+2*binary.MaxVarintLen64+len(ts)*10)
	data = append(data, chunkKind, codecVersion)
	data = binary.AppendUvarint(data, uint64(len(ts)))
	data = binary.AppendVarint(data, ts[0])
	for i := 1; i < len(ts); i++ {
		if ts[i] < ts[i-1] {
			return nil, fmt.Errorf("store: telemetry chunk: times not sorted at sample %d", i)
		}
		data = binary.AppendUvarint(data, uint64(ts[i]-ts[i-1]))
	}
	for _, v := range vs {
		data = binary.LittleEndian.AppendUint64(data, math.Float64bits(v))
	}
	return data, nil
}

// decodeChunk decodes a chunk blob into sorted times and their values.
func decodeChunk(data []byte) (ts []int64, vs []float64, err error) {
	r := &reader{what: "chunk", b: data}
	if err := r.header(chunkKind); err != nil {
		return nil, nil, err
	}
	n, err := r.count("sample count", -1, maxChunkPoints, minChunkPointBytes)
	if err != nil {
		return nil, nil, err
	}
	if n == 0 {
		return nil, nil, r.fail("empty chunk")
	}
	first, err := r.varint("first time", -1)
	if err != nil {
		return nil, nil, err
	}
	ts = make([]int64, n)
	ts[0] = first
	for i := 1; i < n; i++ {
		gap, err := r.uvarint("sample %d time gap", i)
		if err != nil {
			return nil, nil, err
		}
		if gap > uint64(math.MaxInt64-ts[i-1]) {
			return nil, nil, r.fail("sample %d: time gap %d overflows", i, gap)
		}
		ts[i] = ts[i-1] + int64(gap)
	}
	if rest := len(r.b) - r.off; rest < 8*n {
		return nil, nil, r.fail("truncated reading values: %d bytes for %d samples", rest, n)
	}
	vs = make([]float64, n)
	for i := range vs {
		vs[i], _ = r.float("sample %d value", i)
	}
	return ts, vs, r.end()
}
