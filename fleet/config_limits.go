package fleet

import "time"

// validateLimits applies the defaults of the per-source request budgets
// (limits) and checks them.
func (c *Config) validateLimits(bad report) {
	l := &c.Limits
	rate := func(v *float64, dv float64, key string) {
		if *v == 0 {
			*v = dv
		}
		if !(*v > 0 && *v <= 1e6) {
			bad(key, "%g: want more than 0, at most 1e6 a second", *v)
		}
	}
	count := func(v *int, dv int, key string, lo, hi int) {
		if *v == 0 {
			*v = dv
		}
		if *v < lo || *v > hi {
			bad(key, "%d: want %d..%d", *v, lo, hi)
		}
	}
	rate(&l.NonceRate, 20, "limits.nonce_rate")
	count(&l.NonceBurst, 100, "limits.nonce_burst", 1, 1_000_000)
	rate(&l.FailureRate, 1, "limits.failure_rate")
	count(&l.FailureBurst, 30, "limits.failure_burst", 1, 1_000_000)
	count(&l.Sources, 65536, "limits.sources", 16, 10_000_000)
}

// validateAudit applies the defaults of the audit log's retention and
// refusal coalescing (audit) and checks them.
func (c *Config) validateAudit(bad report) {
	a := &c.Audit
	if a.Retention.Duration == 0 {
		a.Retention.Duration = 90 * 24 * time.Hour
	}
	if a.Retention.Duration < time.Hour {
		bad("audit.retention", "%v: want at least 1h", a.Retention.Duration)
	}
	if a.MaxRows == 0 {
		a.MaxRows = 10_000_000
	}
	if a.MaxRows < 1000 {
		bad("audit.max_rows", "%d: want at least 1000", a.MaxRows)
	}
	if a.BurstWindow.Duration == 0 {
		a.BurstWindow.Duration = time.Minute
	}
	if a.BurstWindow.Duration < 100*time.Millisecond || a.BurstWindow.Duration > time.Hour {
		bad("audit.burst_window", "%v: want 100ms..1h", a.BurstWindow.Duration)
	}
}
