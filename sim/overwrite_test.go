package sim

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"rampart/boot"
	"rampart/deviceproto"
)

// overwriteDevice is a device whose bootloader is overwrite-only: an
// upgrade is permanent at the reboot, with no trial to revert.
func (w *world) overwriteDevice(t *testing.T, i int) *Device {
	t.Helper()
	d, err := ManufactureWith(t.TempDir(), i, w.f, w.v1, ManufactureOptions{Strategy: boot.OverwriteOnly})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.PowerOff)
	if err := w.f.Endorse(context.Background(), []*Device{d}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.PowerOn(); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestOverwriteOnlyConfirmsByAttestation: on an overwrite-only device the
// new image is permanent once the bootloader copied it, but the job still
// ends well only after the same attested confirmation as a trial boot: a
// re-enrollment by attestation that the fleet accepts (the new measurement
// is a registered release), then the self-test. If either fails the job is
// reported failed (result failed, running the new version: nothing to
// revert to), never ok. Before, the agent reported ok at once.
func TestOverwriteOnlyConfirmsByAttestation(t *testing.T) {
	w := newWorld(t)
	v3, err := w.f.SignFirmware("3.0.0", 4200) // validly signed, not a registered release
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, version string
		img           func() []byte
		selfTestFails bool
		want          deviceproto.Result
		why           string
	}{
		{"confirmed", "2.0.0", func() []byte { return w.v2 }, false, deviceproto.ResultOK, ""},
		{"self-test fails", "2.0.0", func() []byte { return w.v2 }, true, deviceproto.ResultFailed, "cannot be reverted"},
		{"fleet refuses the attestation", "3.0.0", func() []byte { return v3 }, false, deviceproto.ResultFailed, "unknown-firmware"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := w.overwriteDevice(t, 10+i)
			var mu sync.Mutex
			var tested []string
			a, stop := runAgent(t, w, d, AgentOptions{SelfTest: func(_ context.Context, v string) error {
				mu.Lock()
				tested = append(tested, v)
				mu.Unlock()
				if tc.selfTestFails && v != "1.0.0" {
					return errors.New("sensor bus does not answer")
				}
				return nil
			}})
			defer stop()
			waitFor(t, "connection", a.Connected)
			ctx := context.Background()
			before, _ := w.f.Server.Store().Certificates(ctx, a.DeviceID())
			job := w.f.Host("ow-"+tc.version+"-"+tc.name, tc.version+".bin", tc.version, tc.img())
			if err := w.f.PublishJob(ctx, a.DeviceID(), job); err != nil {
				t.Fatal(err)
			}
			o := outcome(t, a, job.ID)
			if v, _ := a.RunningVersion(); v != tc.version || o.Version != tc.version {
				t.Fatalf("running %s, outcome version %s: the overwrite-only bootloader should have installed %s for good", v, o.Version, tc.version)
			}
			if o.Result != tc.want || o.OK != (tc.want == deviceproto.ResultOK) || !strings.Contains(o.Error, tc.why) || len(o.Token) == 0 {
				t.Fatalf("outcome result %s ok %v error %q (%d-byte token), want result %s (%q)", o.Result, o.OK, o.Error, len(o.Token), tc.want, tc.why)
			}
			after, _ := w.f.Server.Store().Certificates(ctx, a.DeviceID())
			if tc.want == deviceproto.ResultOK && len(after) != len(before)+1 {
				t.Fatalf("%d certificates before the job, %d after: no re-enrollment by attestation of the new image", len(before), len(after))
			}
			mu.Lock()
			defer mu.Unlock()
			ranSelfTest := len(tested) > 0 && tested[len(tested)-1] == tc.version
			if wantSelfTest := tc.name != "fleet refuses the attestation"; ranSelfTest != wantSelfTest {
				t.Fatalf("self-test runs %v, want one of %s: %v", tested, tc.version, wantSelfTest)
			}
		})
	}
}
