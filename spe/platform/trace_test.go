package platform_test

import (
	"fmt"
	"testing"

	"rampart/psa"
	"rampart/psaclient"
	"rampart/spe/sensor"
)

// TestTraceNestedCall traces a sensor reading at levels 1 and 3: the
// client's call to the sensor, and inside it the sensor's own call to the
// crypto partition, named as the sensor's.
func TestTraceNestedCall(t *testing.T) {
	for _, level := range []int{1, 3} {
		t.Run(fmt.Sprintf("level%d", level), func(t *testing.T) {
			devDir, stateDir := newDevice(t)
			provisionDevice(t, devDir, stateDir)
			e := startLevel(t, level, devDir, stateDir)
			e.srv.StartTrace(0)
			sensorReading(t, e.dial(t))
			e.srv.StopTrace()
			events, dropped, on := e.srv.Trace(0, 1000)
			if on || dropped != 0 {
				t.Fatalf("on %v dropped %d", on, dropped)
			}
			var outer, inner int
			for i, ev := range events {
				switch {
				case ev.Caller == "" && ev.Partition == sensor.Manifest.Name && ev.Served:
					outer = i + 1
				case ev.Caller == sensor.Manifest.Name && ev.Partition == "RAMPART_SP_CRYPTO" && ev.Served && ev.Client > 0:
					inner = i + 1
				}
			}
			if outer == 0 || inner == 0 {
				t.Fatalf("trace lacks the sensor's call or its crypto call: %+v", events)
			}
			o, in := events[outer-1], events[inner-1]
			if in.Start < o.Start || in.Start+in.Total > o.Start+o.Total || in.Total > o.InService {
				t.Errorf("the crypto call (%d+%d ns) is not inside the sensor's (%d+%d ns, %d in service)", in.Start, in.Total, o.Start, o.Total, o.InService)
			}
		})
	}
}

// TestTraceOneExtraHop shows from the trace (what `rampart spe trace`
// reads) that the calls TestIsolationCost measures take one hop more at
// level 3 than at level 1, not more: each client call is one event in the
// SPM, served by the crypto partition (at level 3 the SPM's one hop to
// crypto's process), and no partition makes a call of its own meanwhile.
func TestTraceOneExtraHop(t *testing.T) {
	for _, level := range []int{1, 3} {
		t.Run(fmt.Sprintf("level%d", level), func(t *testing.T) {
			devDir, stateDir := newDevice(t)
			provisionDevice(t, devDir, stateDir)
			e := startLevel(t, level, devDir, stateDir)
			c, err := psaclient.NewClient(e.dial(t))
			if err != nil {
				t.Fatal(err)
			}
			key, err := c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeECCKeyPair(psa.ECCFamilySECPR1), Bits: 256,
				Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgSHA256)})
			if err != nil {
				t.Fatal(err)
			}
			e.srv.StartTrace(0)
			const n = 10
			for range n {
				if _, err := c.GenerateRandom(16); err != nil {
					t.Fatal(err)
				}
				if _, err := c.SignHash(key, psa.AlgECDSA(psa.AlgSHA256), make([]byte, 32)); err != nil {
					t.Fatal(err)
				}
			}
			e.srv.StopTrace()
			events, _, _ := e.srv.Trace(0, 1000)
			if len(events) != 2*n {
				t.Fatalf("%d events for %d calls: %+v", len(events), 2*n, events)
			}
			for _, ev := range events {
				if ev.Caller != "" || ev.Partition != "RAMPART_SP_CRYPTO" || !ev.Served {
					t.Errorf("event %+v: want a client's call served by crypto", ev)
				}
			}
		})
	}
}
