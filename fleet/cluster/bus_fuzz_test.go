package cluster

import (
	"encoding/hex"
	"testing"
	"time"
)

// FuzzBusMessage feeds the bus decoder arbitrary subjects and bodies (any
// client of the NATS cluster can store them): it must never panic, and
// what it accepts names a device, that device's subject, and never this
// node as its sender.
func FuzzBusMessage(f *testing.F) {
	n := &Node{cfg: Config{Node: "self", Now: func() time.Time { return time.Unix(2000, 0) }}, prefix: "rampart.rampart."}
	good := n.busSubject(SubjectJobs, "dev")
	f.Add(SubjectJobs, good, []byte(`{"from":"x","device":"dev","payload":"am9i","expires":"2030-01-01T00:00:00Z"}`))
	f.Add(SubjectDisconnect, n.busSubject(SubjectDisconnect, "dev"), []byte(`{"from":"x","device":"dev","reason":"revoked"}`))
	f.Add(SubjectJobs, good, []byte(`{"from":"self","device":"dev"}`))
	f.Add(SubjectJobs, good, []byte(`{"from":"x","device":"dev","payload":"am9i","expires":"1970-01-01T00:00:00Z"}`))
	f.Add(SubjectJobs, "rampart.rampart.jobs.zz", []byte(`not json`))
	f.Fuzz(func(t *testing.T, kind, subject string, data []byte) {
		m, ok := n.busMessage(kind, subject, data)
		if !ok {
			return
		}
		if m.Device == "" || len(m.Device) > maxDeviceID || m.From == "self" || len(data) > maxBusMessage {
			t.Fatalf("accepted %+v", m)
		}
		if subject != n.prefix+kind+"."+hex.EncodeToString([]byte(m.Device)) {
			t.Fatalf("accepted %q for subject %q", m.Device, subject)
		}
	})
}
