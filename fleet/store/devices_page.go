package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// DeviceFilter selects a page of devices (the console's device list).
// Empty fields match every device.
type DeviceFilter struct {
	State        State
	Manufacturer string
	IDPrefix     string    // device IDs starting with it (an index range, not a scan)
	SeenSince    time.Time // last attested at or after
	After        string    // keyset paging: IDs greater than this one
	Limit        int       // default 50, at most 500
}

// DevicePage is one page of a filtered device list, ordered by ID, with
// the number of devices the filter matches in all.
type DevicePage struct {
	Devices []*Device
	Total   int
}

// where is the filter's SQL condition and arguments, without paging.
func (f DeviceFilter) where() (string, []any) {
	var conds []string
	var args []any
	if f.State != "" {
		conds, args = append(conds, "state = ?"), append(args, string(f.State))
	}
	if f.Manufacturer != "" {
		conds, args = append(conds, "manufacturer = ?"), append(args, f.Manufacturer)
	}
	if f.IDPrefix != "" {
		// A range over the primary key: both databases use the index (LIKE
		// would not under PostgreSQL's default collation).
		conds, args = append(conds, "device_id >= ? AND device_id < ?"), append(args, f.IDPrefix, f.IDPrefix+"\U0010FFFF")
	}
	if !f.SeenSince.IsZero() {
		conds, args = append(conds, "last_attested_ms >= ?"), append(args, f.SeenSince.UnixMilli())
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// DevicesPage pages through the devices a filter selects.
func (s *DB) DevicesPage(ctx context.Context, f DeviceFilter) (*DevicePage, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	where, args := f.where()
	out := &DevicePage{}
	if err := s.sql.QueryRowContext(ctx, s.q(`SELECT count(*) FROM devices`+where), args...).Scan(&out.Total); err != nil {
		return nil, fmt.Errorf("store: count devices: %w", err)
	}
	page := where
	if f.After != "" {
		if page == "" {
			page = " WHERE device_id > ?"
		} else {
			page += " AND device_id > ?"
		}
		args = append(args, f.After)
	}
	rows, err := s.sql.QueryContext(ctx, s.q(`SELECT `+deviceCols+` FROM devices`+page+` ORDER BY device_id LIMIT ?`), append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("store: list devices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		out.Devices = append(out.Devices, d)
	}
	return out, rows.Err()
}

// DeviceCounts is how many devices are in each lifecycle state, and the
// number of each manufacturer's devices.
type DeviceCounts struct {
	ByState        map[State]int
	ByManufacturer map[string]int
}

// CountDevices counts the devices by state and by manufacturer, in one
// pass (an index-only scan of devices(state, manufacturer, device_id)).
func (s *DB) CountDevices(ctx context.Context) (*DeviceCounts, error) {
	out := &DeviceCounts{ByState: map[State]int{}, ByManufacturer: map[string]int{}}
	rows, err := s.sql.QueryContext(ctx, `SELECT state, manufacturer, count(*) FROM devices GROUP BY state, manufacturer`)
	if err != nil {
		return nil, fmt.Errorf("store: count devices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st, mfr string
		var n int
		if err := rows.Scan(&st, &mfr, &n); err != nil {
			return nil, fmt.Errorf("store: count devices: %w", err)
		}
		out.ByState[State(st)] += n
		out.ByManufacturer[mfr] += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: count devices: %w", err)
	}
	return out, nil
}
