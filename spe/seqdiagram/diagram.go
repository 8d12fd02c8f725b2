// Package seqdiagram draws a trace of the SPE's partition manager
// (spe.TraceEvent, `rampart spe trace`) as a sequence diagram, like the
// hybrid-thread figures of the PSA method: each non-secure thread (a
// client connection), the partition manager and each partition are
// lifelines; each call is an arrow to the SPM, one from the SPM to the
// partition that serves it, and the replies back, with their status and
// durations. It writes SVG (by hand, no dependency), Mermaid and PlantUML.
//
// It must never read anything but the trace, and never emit a label it has
// not escaped for the target format.
package seqdiagram

import (
	"fmt"
	"sort"
	"strings"

	"rampart/ipc"
	"rampart/spe"
)

// SPM is the partition manager's lifeline.
const SPM = "SPM"

// Lifeline is one participant.
type Lifeline struct {
	ID    string // L0, L1, ... (SPM for the partition manager)
	Label string
	Kind  string // "client", "spm" or "partition"
}

// Message is one arrow.
type Message struct {
	From, To int // lifeline indexes
	Label    string
	Reply    bool // drawn dashed
}

// Diagram is a trace laid out as lifelines and arrows, in time order.
type Diagram struct {
	Lifelines []Lifeline
	Messages  []Message
}

// point is one arrow at one time, before sorting.
type point struct {
	at    int64
	order int // among arrows of one event at one time
	seq   uint64
	msg   Message
}

// Build lays out events.
func Build(events []spe.TraceEvent) *Diagram {
	d := &Diagram{}
	index := map[string]int{}
	line := func(key, label, kind string) int {
		if i, ok := index[key]; ok {
			return i
		}
		index[key] = len(d.Lifelines)
		d.Lifelines = append(d.Lifelines, Lifeline{Label: label, Kind: kind})
		return index[key]
	}
	// Lifelines: the non-secure threads first, then the SPM, then the
	// partitions, each in order of first appearance.
	sorted := append([]spe.TraceEvent(nil), events...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Start < sorted[j].Start })
	for _, e := range sorted {
		if e.Caller == "" {
			line(callerKey(e), fmt.Sprintf("NS client %d conn %d", e.Client, e.Session), "client")
		}
	}
	spm := line(SPM, SPM, "spm")
	for _, e := range sorted {
		if e.Caller != "" {
			line("p:"+e.Caller, e.Caller, "partition")
		}
		if e.Served && e.Partition != "" {
			line("p:"+e.Partition, e.Partition, "partition")
		}
	}
	var pts []point
	for _, e := range sorted {
		caller := index[callerKey(e)]
		end := e.Start + e.Total
		pts = append(pts, point{e.Start, 0, e.Seq, Message{From: caller, To: spm, Label: requestLabel(e)}})
		if e.Served && e.Partition != "" {
			p := index["p:"+e.Partition]
			pts = append(pts,
				point{e.Start, 1, e.Seq, Message{From: spm, To: p, Label: serviceLabel(e)}},
				point{end, 0, e.Seq, Message{From: p, To: spm, Label: statusLabel(e.Status, e.InService), Reply: true}})
		}
		pts = append(pts, point{end, 1, e.Seq, Message{From: spm, To: caller, Label: statusLabel(e.Status, e.Total), Reply: true}})
	}
	sort.SliceStable(pts, func(i, j int) bool {
		a, b := pts[i], pts[j]
		if a.at != b.at {
			return a.at < b.at
		}
		if a.seq != b.seq {
			return a.seq < b.seq
		}
		return a.order < b.order
	})
	for _, p := range pts {
		d.Messages = append(d.Messages, p.msg)
	}
	for i := range d.Lifelines {
		d.Lifelines[i].ID = fmt.Sprintf("L%d", i)
		if i == spm {
			d.Lifelines[i].ID = SPM
		}
	}
	return d
}

func callerKey(e spe.TraceEvent) string {
	if e.Caller != "" {
		return "p:" + e.Caller
	}
	return fmt.Sprintf("c:%d:%d", e.Client, e.Session)
}

func target(e spe.TraceEvent) string {
	if e.Service != "" {
		return e.Service
	}
	return fmt.Sprintf("SID 0x%x", e.SID)
}

func requestLabel(e spe.TraceEvent) string {
	switch e.Kind {
	case "call", "stateless":
		return fmt.Sprintf("%s %s op 0x%04x", e.Kind, target(e), uint32(e.Op))
	case "close":
		return fmt.Sprintf("close %s", target(e))
	default:
		return fmt.Sprintf("%s %s", e.Kind, target(e))
	}
}

func serviceLabel(e spe.TraceEvent) string {
	return fmt.Sprintf("%s op 0x%04x for client %d", target(e), uint32(e.Op), e.Client)
}

func statusLabel(st int32, ns int64) string {
	name := strings.TrimPrefix(ipc.Status(st).String(), "PSA_")
	return fmt.Sprintf("%s %s", name, duration(ns))
}

// duration prints ns with three significant digits at most, in ASCII.
func duration(ns int64) string {
	switch {
	case ns < 1000:
		return fmt.Sprintf("%dns", ns)
	case ns < 1000_000:
		return fmt.Sprintf("%.3gus", float64(ns)/1e3)
	case ns < 1000_000_000:
		return fmt.Sprintf("%.3gms", float64(ns)/1e6)
	}
	return fmt.Sprintf("%.3gs", float64(ns)/1e9)
}
