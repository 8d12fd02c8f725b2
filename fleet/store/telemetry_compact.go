package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

const (
	// chunkTarget is the most samples compaction puts in one chunk
	// (about 9 KiB at 9 bytes a sample): big enough that a chunk row
	// costs little per sample, small enough that decoding one for a
	// narrow query or rewriting one at retention is cheap.
	chunkTarget = 1024
	// maxChunkSpan is the longest time one chunk covers: a query for a
	// window starting at From only looks at chunks starting after
	// From-maxChunkSpan.
	maxChunkSpan = int64(24 * time.Hour / time.Millisecond)
	// tailFactor bounds write amplification: new samples of a series are
	// merged into its latest chunk only while that chunk holds at most
	// tailFactor times as many samples as are being added, so each sample
	// is rewritten a bounded number of times however slowly its series
	// grows, and a slow series still ends up in chunks about tailFactor
	// compactions long.
	tailFactor = 8
	// DefaultCompactSamples bounds one CompactTelemetry transaction. On
	// SQLite its write transaction holds the only write lock, so ingest
	// waits for it: 1,000,000 samples held it 0.4 s when series got
	// thousands of samples each, 3 s when 128,000 series got a few each
	// (docs/fleet-server.md, Telemetry storage). telemetry.RunCompaction
	// asks for much smaller passes unless it falls behind.
	DefaultCompactSamples = 1000000
)

// CompactResult says what one CompactTelemetry call did.
type CompactResult struct {
	Batches int  // pending batches consumed
	Samples int  // samples moved into chunks
	Chunks  int  // chunk rows inserted or rewritten
	More    bool // batches are still pending beyond this call's bound
	Pending int  // batches left pending (as of the call's read; metrics)
	// Write is how long the write transaction took: on SQLite, how long
	// the pass held the write lock (reading and encoding happen before,
	// on a snapshot).
	Write time.Duration
}

// compactFault, when set (tests), is called after each step of a
// compaction's transaction; an error it returns aborts the compaction
// there, as a crash or a failing statement would.
var compactFault func(step string) error

func fault(step string) error {
	if compactFault == nil {
		return nil
	}
	return compactFault(step)
}

// CompactTelemetry moves the oldest pending batches (at least one, about
// maxSamples samples; 0 means DefaultCompactSamples) into per-series
// chunks. It plans on a read snapshot (reads the batches and latest chunks,
// groups, merges and encodes) without holding SQLite's write lock, then
// applies the plan in one transaction that inserts or rewrites the chunks
// and deletes the batches they came from, so an interrupted compaction
// changes nothing and every sample stays stored exactly once. Every write
// is conditional on what the plan read (a chunk's id, size and bounds, a
// batch's id and size): a change in between (retention, another compactor
// on PostgreSQL) fails the transaction with ErrConflict; calling again
// later is safe.
func (s *DB) CompactTelemetry(ctx context.Context, maxSamples int) (CompactResult, error) {
	if maxSamples <= 0 {
		maxSamples = DefaultCompactSamples
	}
	var p *compactPlan
	err := s.snapshot(ctx, func(t *sql.Tx) error {
		var err error
		p, err = s.planCompaction(ctx, t, maxSamples)
		return err
	})
	if err != nil {
		return CompactResult{}, err
	}
	res := CompactResult{More: p.pending > 0, Pending: p.pending}
	if len(p.batches) == 0 {
		return res, nil
	}
	start := time.Now()
	err = s.tx(ctx, func(t *sql.Tx) error {
		res.Chunks, res.Samples = 0, 0
		c, err := s.newCompactor(ctx, t)
		if err != nil {
			return err
		}
		defer c.close()
		for _, sp := range p.series {
			n, err := c.apply(sp)
			if err != nil {
				return err
			}
			res.Chunks += n
			res.Samples += sp.samples
			if err := fault("chunk"); err != nil {
				return err
			}
		}
		for _, b := range p.batches {
			r, err := c.del.ExecContext(ctx, b.id, b.n)
			if err != nil {
				return fmt.Errorf("store: compact telemetry: delete batch %d: %w", b.id, err)
			}
			if k, err := r.RowsAffected(); err != nil || k != 1 {
				return fmt.Errorf("store: compact telemetry: batch %d changed meanwhile: %w", b.id, ErrConflict)
			}
		}
		return fault("delete")
	})
	if err != nil {
		return CompactResult{}, err
	}
	res.Batches, res.Write = len(p.batches), time.Since(start)
	return res, nil
}

// compactPlan is what one compaction will write, computed on a snapshot.
type compactPlan struct {
	batches []blobRow // to delete (their data is dropped once planned)
	pending int       // batches left for later
	series  []seriesPlan
}

// seriesPlan is one series' writes: either a rewrite of its latest chunk
// (merge != nil) or new chunks.
type seriesPlan struct {
	dev, metric string
	samples     int
	merge       *chunkRewrite
	inserts     []newChunk
}

// chunkRewrite replaces chunk id, as read (n, tMin, tMax), by data.
type chunkRewrite struct {
	id, n, tMin, tMax    int64 // as read: the condition of the update
	newMin, newMax, newN int64
	data                 []byte
}

type newChunk struct {
	tMin, tMax, n int64
	data          []byte
}

// planCompaction reads and encodes everything one compaction writes.
func (s *DB) planCompaction(ctx context.Context, t *sql.Tx, maxSamples int) (*compactPlan, error) {
	batches, pending, err := s.oldestBatches(ctx, t, maxSamples)
	if err != nil {
		return nil, err
	}
	p := &compactPlan{pending: pending}
	if len(batches) == 0 {
		return p, nil
	}
	series, err := groupSeries(batches)
	if err != nil {
		return nil, err
	}
	for i := range batches {
		batches[i].data = nil
	}
	p.batches = batches
	if err := fault("read"); err != nil {
		return nil, err
	}
	tails, err := s.tails(ctx, t, series)
	if err != nil {
		return nil, err
	}
	p.series = make([]seriesPlan, len(series))
	for i, sd := range series {
		if p.series[i], err = planSeries(sd, tails[i]); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// oldestBatches reads the oldest pending batches holding about maxSamples
// samples; pending is how many were left. Ids and sizes are read first so
// that the blobs of batches left for later are not transferred.
func (s *DB) oldestBatches(ctx context.Context, t *sql.Tx, maxSamples int) (list []blobRow, pending int, err error) {
	rows, err := t.QueryContext(ctx, `SELECT id, n FROM telemetry_batches ORDER BY id`)
	if err != nil {
		return nil, 0, fmt.Errorf("store: compact telemetry: %w", err)
	}
	defer rows.Close()
	var last int64
	total, count := 0, 0
	for rows.Next() {
		if total >= maxSamples {
			pending++
			continue
		}
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, 0, fmt.Errorf("store: compact telemetry: %w", err)
		}
		last, total, count = id, total+int(n), count+1
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: compact telemetry: %w", err)
	}
	rows.Close()
	if count == 0 {
		return nil, 0, nil
	}
	// A batch committed meanwhile with a smaller id (PostgreSQL allocates
	// ids before commit) is simply compacted too: what is deleted is
	// exactly what is read here.
	rows, err = t.QueryContext(ctx, s.q(`SELECT id, n, data FROM telemetry_batches WHERE id <= ? ORDER BY id`), last)
	if err != nil {
		return nil, 0, fmt.Errorf("store: compact telemetry: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r blobRow
		if err := rows.Scan(&r.id, &r.n, &r.data); err != nil {
			return nil, 0, fmt.Errorf("store: compact telemetry: %w", err)
		}
		list = append(list, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: compact telemetry: %w", err)
	}
	return list, pending, nil
}

// seriesData is one series' new samples, sorted by time (ties in storage
// order).
type seriesData struct {
	dev, metric string
	ts          []int64
	vs          []float64
}

// groupSeries decodes batches (oldest first) and groups their samples by
// series, sorted by (device, metric).
func groupSeries(batches []blobRow) ([]*seriesData, error) {
	// Strings get pass-wide numbers once per batch dictionary entry, so
	// that each sample costs an integer map lookup, not the hashing of
	// two strings.
	ids := map[string]uint32{}
	bySeries := map[uint64]*seriesData{}
	var global []uint32
	for _, r := range batches {
		b, err := decodeBatch(r.data)
		if err != nil {
			return nil, fmt.Errorf("store: compact telemetry: batch %d: %w", r.id, err)
		}
		if len(b.pts) != int(r.n) {
			return nil, fmt.Errorf("store: compact telemetry: batch %d: %w: %d samples, row says %d", r.id, ErrCodec, len(b.pts), r.n)
		}
		global = global[:0]
		for _, str := range b.dict {
			id, ok := ids[str]
			if !ok {
				id = uint32(len(ids))
				ids[str] = id
			}
			global = append(global, id)
		}
		for _, p := range b.pts {
			k := uint64(global[p.dev])<<32 | uint64(global[p.metric])
			sd := bySeries[k]
			if sd == nil {
				sd = &seriesData{dev: b.dict[p.dev], metric: b.dict[p.metric]}
				bySeries[k] = sd
			}
			sd.ts = append(sd.ts, p.ts)
			sd.vs = append(sd.vs, p.v)
		}
	}
	out := make([]*seriesData, 0, len(bySeries))
	for _, sd := range bySeries {
		sortSamples(sd.ts, sd.vs)
		out = append(out, sd)
	}
	slices.SortFunc(out, func(a, b *seriesData) int { return cmpSeries(a.dev, a.metric, b.dev, b.metric) })
	return out, nil
}

// sortSamples sorts ts (and vs with it) stably, when not already sorted.
func sortSamples(ts []int64, vs []float64) {
	if slices.IsSorted(ts) {
		return
	}
	idx := make([]int, len(ts))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(ts[a], ts[b]) })
	t2, v2 := make([]int64, len(ts)), make([]float64, len(vs))
	for i, j := range idx {
		t2[i], v2[i] = ts[j], vs[j]
	}
	copy(ts, t2)
	copy(vs, v2)
}

// splitChunks cuts sorted samples into chunks of at most chunkTarget
// samples spanning at most maxChunkSpan, and calls f with each.
func splitChunks(ts []int64, vs []float64, f func(ts []int64, vs []float64) error) error {
	for start := 0; start < len(ts); {
		end := start + 1
		for end < len(ts) && end-start < chunkTarget && ts[end]-ts[start] <= maxChunkSpan {
			end++
		}
		if err := f(ts[start:end], vs[start:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// compactor holds one compaction's prepared write statements.
type compactor struct {
	ctx                context.Context
	upd, app, ins, del *sql.Stmt
	errPrepare         error
	stmts              []*sql.Stmt
}

// tailGroup is how many series one latest-chunk query looks up: one
// statement per series cost as much as the lookup itself.
const tailGroup = 100

// tailsQuery finds the latest chunk (highest t_min, then id) of each of n
// series given as (device, metric) parameter pairs.
func tailsQuery(n int) string {
	var b strings.Builder
	b.WriteString(`WITH v(d, m) AS (VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`(?, ?)`)
	}
	b.WriteString(`) SELECT c.device_id, c.metric, c.id, c.n, c.t_min, c.t_max, c.data FROM v JOIN telemetry_chunks c ON c.id =
		(SELECT id FROM telemetry_chunks WHERE device_id = v.d AND metric = v.m ORDER BY t_min DESC, id DESC LIMIT 1)`)
	return b.String()
}

// tailRow is a series' latest chunk.
type tailRow struct {
	id, n, tMin, tMax int64
	data              []byte
}

func (s *DB) newCompactor(ctx context.Context, t *sql.Tx) (*compactor, error) {
	c := &compactor{ctx: ctx}
	prep := func(q string) *sql.Stmt {
		if c.errPrepare != nil {
			return nil
		}
		st, err := t.PrepareContext(ctx, s.q(q))
		if err != nil {
			c.errPrepare = fmt.Errorf("store: compact telemetry: prepare: %w", err)
			return nil
		}
		c.stmts = append(c.stmts, st)
		return st
	}
	c.upd = prep(`UPDATE telemetry_chunks SET t_min = ?, t_max = ?, n = ?, data = ? WHERE id = ? AND n = ? AND t_min = ? AND t_max = ?`)
	// Appending leaves t_min, an indexed column, unchanged: not naming it
	// spares SQLite rewriting two index entries.
	c.app = prep(`UPDATE telemetry_chunks SET t_max = ?, n = ?, data = ? WHERE id = ? AND n = ? AND t_min = ? AND t_max = ?`)
	c.ins = prep(`INSERT INTO telemetry_chunks (device_id, metric, t_min, t_max, n, data) VALUES (?, ?, ?, ?, ?, ?)`)
	c.del = prep(`DELETE FROM telemetry_batches WHERE id = ? AND n = ?`)
	if c.errPrepare != nil {
		c.close()
		return nil, c.errPrepare
	}
	return c, nil
}

func (c *compactor) close() {
	for _, st := range c.stmts {
		st.Close()
	}
}

// tails returns the latest chunk of each series that could be merged into
// one (nil where there is none, or the series has too many new samples).
func (s *DB) tails(ctx context.Context, t *sql.Tx, series []*seriesData) ([]*tailRow, error) {
	out := make([]*tailRow, len(series))
	var want []int // indexes into series
	for i, sd := range series {
		if len(sd.ts) < chunkTarget {
			want = append(want, i)
		}
	}
	if len(want) == 0 {
		return out, nil
	}
	var full *sql.Stmt
	if len(want) >= tailGroup {
		st, err := t.PrepareContext(ctx, s.q(tailsQuery(tailGroup)))
		if err != nil {
			return nil, fmt.Errorf("store: compact telemetry: prepare: %w", err)
		}
		defer st.Close()
		full = st
	}
	index := make(map[[2]string]int, len(want))
	for len(want) > 0 {
		group := want[:min(len(want), tailGroup)]
		want = want[len(group):]
		args := make([]any, 0, 2*len(group))
		for _, i := range group {
			args = append(args, series[i].dev, series[i].metric)
			index[[2]string{series[i].dev, series[i].metric}] = i
		}
		var rows *sql.Rows
		var err error
		if len(group) == tailGroup {
			rows, err = full.QueryContext(ctx, args...)
		} else {
			rows, err = t.QueryContext(ctx, s.q(tailsQuery(len(group))), args...)
		}
		if err != nil {
			return nil, fmt.Errorf("store: compact telemetry: latest chunks: %w", err)
		}
		for rows.Next() {
			var k [2]string
			r := new(tailRow)
			if err := rows.Scan(&k[0], &k[1], &r.id, &r.n, &r.tMin, &r.tMax, &r.data); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: compact telemetry: latest chunks: %w", err)
			}
			if i, ok := index[k]; ok {
				out[i] = r
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: compact telemetry: latest chunks: %w", err)
		}
	}
	return out, nil
}

// planSeries encodes one series' new samples: merged into its latest chunk
// tail when that stays small and cheap (tailFactor), otherwise as new
// chunks.
func planSeries(sd *seriesData, tail *tailRow) (seriesPlan, error) {
	p := seriesPlan{dev: sd.dev, metric: sd.metric, samples: len(sd.ts)}
	k := len(sd.ts)
	if tail != nil {
		id, n, tMin, tMax := tail.id, tail.n, tail.tMin, tail.tMax
		if n+int64(k) <= chunkTarget && n <= int64(tailFactor*k) && max(tMax, sd.ts[k-1])-min(tMin, sd.ts[0]) <= maxChunkSpan {
			ts, vs, err := decodeChunk(tail.data)
			if err != nil {
				return p, fmt.Errorf("store: compact telemetry: chunk %d: %w", id, err)
			}
			ts, vs = mergeSorted(ts, vs, sd.ts, sd.vs)
			blob, err := encodeChunk(ts, vs)
			if err != nil {
				return p, err
			}
			p.merge = &chunkRewrite{id: id, n: n, tMin: tMin, tMax: tMax, newMin: ts[0], newMax: ts[len(ts)-1], newN: int64(len(ts)), data: blob}
			return p, nil
		}
	}
	err := splitChunks(sd.ts, sd.vs, func(ts []int64, vs []float64) error {
		blob, err := encodeChunk(ts, vs)
		if err != nil {
			return err
		}
		p.inserts = append(p.inserts, newChunk{tMin: ts[0], tMax: ts[len(ts)-1], n: int64(len(ts)), data: blob})
		return nil
	})
	return p, err
}

// apply writes one series' planned chunks and returns how many rows it
// wrote.
func (c *compactor) apply(p seriesPlan) (int, error) {
	if m := p.merge; m != nil {
		var r sql.Result
		var err error
		if m.newMin == m.tMin {
			r, err = c.app.ExecContext(c.ctx, m.newMax, m.newN, m.data, m.id, m.n, m.tMin, m.tMax)
		} else {
			r, err = c.upd.ExecContext(c.ctx, m.newMin, m.newMax, m.newN, m.data, m.id, m.n, m.tMin, m.tMax)
		}
		if err != nil {
			return 0, fmt.Errorf("store: compact telemetry: %w", err)
		}
		if k, err := r.RowsAffected(); err != nil || k != 1 {
			return 0, fmt.Errorf("store: compact telemetry: chunk %d changed meanwhile: %w", m.id, ErrConflict)
		}
		return 1, nil
	}
	for _, ch := range p.inserts {
		if _, err := c.ins.ExecContext(c.ctx, p.dev, p.metric, ch.tMin, ch.tMax, ch.n, ch.data); err != nil {
			return 0, fmt.Errorf("store: compact telemetry: %w", err)
		}
	}
	return len(p.inserts), nil
}

// mergeSorted merges two sorted series, a's samples first on equal times.
func mergeSorted(at []int64, av []float64, bt []int64, bv []float64) ([]int64, []float64) {
	ts := make([]int64, 0, len(at)+len(bt))
	vs := make([]float64, 0, len(at)+len(bt))
	i, j := 0, 0
	for i < len(at) || j < len(bt) {
		if j == len(bt) || (i < len(at) && at[i] <= bt[j]) {
			ts, vs = append(ts, at[i]), append(vs, av[i])
			i++
		} else {
			ts, vs = append(ts, bt[j]), append(vs, bv[j])
			j++
		}
	}
	return ts, vs
}
