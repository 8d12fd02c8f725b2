package telemetry

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"rampart/fleet/store"
)

// Export writes points as "csv" (header device_id,metric,time,value; time in
// RFC 3339 with milliseconds) or "json" (an array of objects).
func Export(w io.Writer, format string, pts []store.Point) error {
	switch format {
	case "json", "":
		if pts == nil {
			pts = []store.Point{}
		}
		return json.NewEncoder(w).Encode(pts)
	case "csv":
		c := csv.NewWriter(w)
		c.Write([]string{"device_id", "metric", "time", "value"})
		for _, p := range pts {
			c.Write([]string{p.DeviceID, p.Metric, p.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"), strconv.FormatFloat(p.Value, 'g', -1, 64)})
		}
		c.Flush()
		return c.Error()
	}
	return fmt.Errorf("telemetry: export format %q: want csv or json", format)
}
