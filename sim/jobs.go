package sim

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"rampart/agent"
	"rampart/attest"
	"rampart/fleet/api"
	"rampart/fleet/ca"
	"rampart/fleet/store"
	"rampart/fleet/trust"
)

// Endorse imports the devices' endorsements into the fleet, signed by the
// manufacturer key, as `rampart fleet endorsements import` does.
func (f *Fleet) Endorse(ctx context.Context, devs []*Device) error {
	list := &attest.EndorsementList{}
	for _, d := range devs {
		if err := list.Add(d.Endorse); err != nil {
			return fmt.Errorf("sim: endorsement of device %d: %w", d.Index, err)
		}
	}
	signed, err := trust.SignEndorsements(list, "sim", f.Mfr, f.Rand)
	if err != nil {
		return err
	}
	if f.Server == nil {
		// Another process runs the server: import through the admin API.
		c := api.NewClient(f.AdminURL, AdminToken, f.roots)
		return c.Post(ctx, "/api/v1/endorsements", nil, bytes.NewReader(signed), "application/octet-stream", nil)
	}
	_, err = trust.Import(ctx, f.Server.Store(), signed, map[string]*ecdsa.PublicKey{"sim": &f.Mfr.PublicKey}, "sim")
	return err
}

// PublishJob delivers a firmware-update job to a device as a retained QoS 1
// message on devices/<id>/jobs (docs/agent.md).
//
// The fleet server has no job publisher yet and its broker lets only the
// device itself publish under devices/<id>/, so this stand-in, which runs
// next to the server and holds its CA, issues a one-minute certificate for
// the device's identity, records it (audited as "job.publish"), and
// publishes as the device. That takes the device's MQTT session over; the
// agent reconnects and receives the retained job. A fleet-side publisher
// (the broker's inline client) should replace this.
func (f *Fleet) PublishJob(ctx context.Context, deviceID string, j agent.Job) error {
	payload, err := j.Marshal()
	if err != nil {
		return err
	}
	dev, err := f.Server.Store().Device(ctx, deviceID)
	if err != nil {
		return fmt.Errorf("sim: job for %s: %w", deviceID, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), f.Rand)
	if err != nil {
		return err
	}
	cert, err := f.Server.CA().IssueDevice(&key.PublicKey, deviceID, dev.InstanceID, time.Minute)
	if err != nil {
		return err
	}
	rec := &store.Certificate{Serial: ca.Serial(cert.SerialNumber), DeviceID: deviceID, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, DER: cert.Raw}
	audit := &store.AuditEntry{Actor: "sim:jobs", Action: "job.publish", Subject: deviceID, Decision: store.Allow, Reason: "job " + j.ID + " " + j.Version}
	if err := f.Server.Store().RecordEnrollment(ctx, rec, []store.State{store.Active}, audit); err != nil {
		return fmt.Errorf("sim: job for %s: %w", deviceID, err)
	}
	conn, err := tls.Dial("tcp", f.Server.MQTTAddr(), &tls.Config{RootCAs: f.Roots(), ServerName: "127.0.0.1",
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}}})
	if err != nil {
		return fmt.Errorf("sim: job publisher: %w", err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(conn)})
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Connect(cctx, &paho.Connect{ClientID: deviceID, KeepAlive: 30, CleanStart: true}); err != nil {
		conn.Close()
		return fmt.Errorf("sim: job publisher: connect: %w", err)
	}
	defer c.Disconnect(&paho.Disconnect{})
	pr, err := c.Publish(cctx, &paho.Publish{Topic: agent.JobsTopic(deviceID), QoS: 1, Retain: true, Payload: payload})
	if err != nil {
		return fmt.Errorf("sim: job publisher: %w", err)
	}
	if pr != nil && pr.ReasonCode >= 0x80 {
		return fmt.Errorf("sim: job publisher: refused: reason %#x", pr.ReasonCode)
	}
	return nil
}
