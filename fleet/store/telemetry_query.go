package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Points returns matching samples ordered by device, metric (both in byte
// order) and time. The order of samples of one series at the same time is
// unspecified, as it was with one row per sample (mostly storage order).
//
// It reads the pending batches in the window first (bounded: the first
// Limit matching samples are all that can be returned from them), then
// streams the chunks in (device, metric, t_min) order, merging the two.
// A chunk's samples are final once a later chunk of the series starts
// after them, so a small Limit stops early however long the history.
func (s *DB) Points(ctx context.Context, q PointQuery) ([]Point, error) {
	if q.Limit <= 0 {
		q.Limit = 100000
	}
	from, to := int64(math.MinInt64), int64(math.MaxInt64)
	if !q.From.IsZero() {
		from = ms(q.From)
	}
	if !q.To.IsZero() {
		to = ms(q.To)
	}
	if from >= to {
		return nil, nil
	}
	var out []Point
	err := s.snapshot(ctx, func(t *sql.Tx) error {
		pend, err := s.pendingPoints(ctx, t, q, from, to)
		if err != nil {
			return err
		}
		m := &merger{limit: q.Limit, pend: pend, from: from, to: to}
		if err := s.streamChunks(ctx, t, q, from, to, m); err != nil {
			return err
		}
		out = m.out
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// window adds the time conditions of [from, to) on a table with t_min and
// t_max columns.
func window(cond string, args []any, from, to int64) (string, []any) {
	if from != math.MinInt64 {
		cond += ` AND t_max >= ?`
		args = append(args, from)
	}
	if to != math.MaxInt64 {
		cond += ` AND t_min < ?`
		args = append(args, to)
	}
	return cond, args
}

// pendingPoints returns the first q.Limit matching samples of the pending
// batches, sorted by series and time, ties in storage order.
func (s *DB) pendingPoints(ctx context.Context, t *sql.Tx, q PointQuery, from, to int64) ([]Point, error) {
	cond, args := window("", nil, from, to)
	var out []Point
	err := s.eachBatch(ctx, t, cond, func(b *batch) error {
		dev, met := uint32(math.MaxUint32), uint32(math.MaxUint32)
		var ok bool
		if q.DeviceID != "" {
			if dev, ok = b.lookup(q.DeviceID); !ok {
				return nil
			}
		}
		if q.Metric != "" {
			if met, ok = b.lookup(q.Metric); !ok {
				return nil
			}
		}
		for _, p := range b.pts {
			if (q.DeviceID != "" && p.dev != dev) || (q.Metric != "" && p.metric != met) || p.ts < from || p.ts >= to {
				continue
			}
			out = append(out, Point{DeviceID: b.dict[p.dev], Metric: b.dict[p.metric], Time: fromMS(p.ts), Value: p.v})
		}
		return nil
	}, args...)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b Point) int {
		if c := cmpSeries(a.DeviceID, a.Metric, b.DeviceID, b.Metric); c != 0 {
			return c
		}
		return cmp.Compare(ms(a.Time), ms(b.Time))
	})
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

func cmpSeries(d1, m1, d2, m2 string) int {
	if c := strings.Compare(d1, d2); c != 0 {
		return c
	}
	return strings.Compare(m1, m2)
}

// streamChunks feeds the matching chunks to m in (device, metric, t_min)
// order until m has Limit samples.
func (s *DB) streamChunks(ctx context.Context, t *sql.Tx, q PointQuery, from, to int64, m *merger) error {
	cond, args := "", []any(nil)
	if q.DeviceID != "" {
		cond += ` AND device_id = ?`
		args = append(args, q.DeviceID)
	}
	if q.Metric != "" {
		cond += ` AND metric = ?`
		args = append(args, q.Metric)
	}
	cond, args = window(cond, args, from, to)
	if from != math.MinInt64 && from > math.MinInt64+maxChunkSpan {
		// No chunk spans more than maxChunkSpan: this bounds the index
		// range of (device_id, metric, t_min) from below.
		cond += ` AND t_min >= ?`
		args = append(args, from-maxChunkSpan)
	}
	rows, err := t.QueryContext(ctx, s.q(`SELECT device_id, metric, t_min, n, data FROM telemetry_chunks WHERE 1=1`+cond+` ORDER BY device_id, metric, t_min, id`), args...)
	if err != nil {
		return fmt.Errorf("store: query telemetry: %w", err)
	}
	defer rows.Close()
	for rows.Next() && !m.full() {
		var (
			dev, met string
			tMin, n  int64
			data     []byte
		)
		if err := rows.Scan(&dev, &met, &tMin, &n, &data); err != nil {
			return fmt.Errorf("store: query telemetry: %w", err)
		}
		ts, vs, err := decodeChunk(data)
		if err != nil {
			return fmt.Errorf("store: query telemetry: chunk of %s/%s at %d: %w", dev, met, tMin, err)
		}
		if int64(len(ts)) != n {
			return fmt.Errorf("store: query telemetry: chunk of %s/%s at %d: %w: %d samples, row says %d", dev, met, tMin, ErrCodec, len(ts), n)
		}
		m.chunk(dev, met, tMin, ts, vs)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: query telemetry: %w", err)
	}
	m.finish()
	return nil
}

// merger merges streamed chunks with sorted pending samples into out.
type merger struct {
	limit    int
	from, to int64
	pend     []Point // sorted; pend[pi:] not yet emitted
	pi       int
	out      []Point

	dev, met string // the series being read from chunks
	buf      []sample
	sorted   bool
}

type sample struct {
	ts int64
	v  float64
}

func (m *merger) full() bool { return len(m.out) >= m.limit }

func (m *merger) emit(p Point) {
	if !m.full() {
		m.out = append(m.out, p)
	}
}

// pendingBefore emits the pending samples of series before (dev, met).
func (m *merger) pendingBefore(dev, met string) {
	for m.pi < len(m.pend) && !m.full() && cmpSeries(m.pend[m.pi].DeviceID, m.pend[m.pi].Metric, dev, met) < 0 {
		m.emit(m.pend[m.pi])
		m.pi++
	}
}

// flush emits the current series' buffered and pending samples with times
// before upTo (all when all is set), in time order, chunk samples first on
// ties (they were stored earlier).
func (m *merger) flush(upTo int64, all bool) {
	if !m.sorted {
		slices.SortStableFunc(m.buf, func(a, b sample) int { return cmp.Compare(a.ts, b.ts) })
		m.sorted = true
	}
	i := 0
	for !m.full() {
		var pendOK bool
		var pts int64
		if m.pi < len(m.pend) && m.pend[m.pi].DeviceID == m.dev && m.pend[m.pi].Metric == m.met {
			pts = ms(m.pend[m.pi].Time)
			pendOK = all || pts < upTo
		}
		bufOK := i < len(m.buf) && (all || m.buf[i].ts < upTo)
		switch {
		case bufOK && (!pendOK || m.buf[i].ts <= pts):
			m.emit(Point{DeviceID: m.dev, Metric: m.met, Time: fromMS(m.buf[i].ts), Value: m.buf[i].v})
			i++
		case pendOK:
			m.emit(m.pend[m.pi])
			m.pi++
		default:
			m.buf = m.buf[:copy(m.buf, m.buf[i:])]
			return
		}
	}
}

// chunk takes one chunk of series (dev, met) starting at tMin.
func (m *merger) chunk(dev, met string, tMin int64, ts []int64, vs []float64) {
	if dev != m.dev || met != m.met || m.buf == nil {
		if m.buf != nil {
			m.flush(0, true)
		}
		m.pendingBefore(dev, met)
		m.dev, m.met, m.buf, m.sorted = dev, met, m.buf[:0], true
		if m.buf == nil {
			m.buf = make([]sample, 0, len(ts))
		}
	} else {
		// Later chunks of this series start at tMin or after.
		m.flush(tMin, false)
	}
	for i, t := range ts {
		if t < m.from || t >= m.to {
			continue
		}
		if n := len(m.buf); n > 0 && m.buf[n-1].ts > t {
			m.sorted = false
		}
		m.buf = append(m.buf, sample{t, vs[i]})
	}
}

// finish emits what is left: the last series and the remaining pending
// samples.
func (m *merger) finish() {
	if m.buf != nil {
		m.flush(0, true)
	}
	for m.pi < len(m.pend) && !m.full() {
		m.emit(m.pend[m.pi])
		m.pi++
	}
}
