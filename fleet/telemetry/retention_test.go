package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"rampart/fleet/store"
)

// RunRetention removes what is older than keep at its first pass, keeps the
// rest, and stops with its context.
func TestRunRetention(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "r.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.UnixMilli(1_764_000_000_000)
	pts := []store.Point{
		{DeviceID: "d", Metric: "m", Time: now.Add(-48 * time.Hour), Value: 1},
		{DeviceID: "d", Metric: "m", Time: now.Add(-time.Hour), Value: 2},
	}
	if err := db.InsertPoints(ctx, pts); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		RunRetention(ctx, db, 24*time.Hour, time.Hour, func() time.Time { return now }, slog.New(slog.DiscardHandler))
		close(done)
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		got, err := db.Points(context.Background(), store.PointQuery{DeviceID: "d"})
		if err == nil && len(got) == 1 {
			if got[0].Value != 2 {
				t.Fatalf("retention kept %+v, want the recent sample", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention did not run: %+v, %v", got, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}

// A pass that loses a race with compaction (ErrConflict) is retried at
// once, not an interval later; other errors are not retried.
func TestRetentionRetriesConflict(t *testing.T) {
	defer func(old func(*store.DB, context.Context, time.Time) (int64, error)) { deletePointsBefore = old }(deletePointsBefore)
	calls := 0
	deletePointsBefore = func(*store.DB, context.Context, time.Time) (int64, error) {
		calls++
		if calls == 1 {
			return 2, store.ErrConflict
		}
		return 3, nil
	}
	if n, err := retainOnce(context.Background(), nil, time.Now()); err != nil || n != 5 || calls != 2 {
		t.Fatalf("retainOnce = %d, %v after %d calls; want 5, nil after 2", n, err, calls)
	}
	calls = 0
	boom := errors.New("disk")
	deletePointsBefore = func(*store.DB, context.Context, time.Time) (int64, error) { calls++; return 0, boom }
	if _, err := retainOnce(context.Background(), nil, time.Now()); !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("other error: %v after %d calls; want it once", err, calls)
	}
	calls = 0
	deletePointsBefore = func(*store.DB, context.Context, time.Time) (int64, error) { calls++; return 0, store.ErrConflict }
	if _, err := retainOnce(context.Background(), nil, time.Now()); !errors.Is(err, store.ErrConflict) || calls != 3 {
		t.Fatalf("persistent conflict: %v after %d calls; want ErrConflict after 3", err, calls)
	}
}
