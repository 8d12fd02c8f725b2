// Command secure-sensor shows telemetry signed end to end: each reading is
// signed inside the device's SPE with the key the fleet certified after
// attestation (the agent's TLS key, psaclient.Signer), sent over mutual-TLS MQTT,
// and checked by a verifier that trusts only the fleet CA: the
// certificate chain, the certificate's device, and the signature. A reading
// altered after signing is refused.
//
// Everything runs in-process: a fleet server on 127.0.0.1, one simulated
// device (flash, bootloader, SPE, agent) in a temporary directory.
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"rampart/agent"
	"rampart/psaclient"
	"rampart/sim"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "secure-sensor:", err)
		os.Exit(1)
	}
}

// Reading is one signed sensor reading; Sig covers the JSON of Body.
type Reading struct {
	Body json.RawMessage `json:"body"`
	Sig  []byte          `json:"sig"` // ASN.1 ECDSA over SHA-256(body)
}

type body struct {
	Device string  `json:"device"`
	Seq    int     `json:"seq"`
	TS     int64   `json:"ts"`
	Temp   float64 `json:"temperature"`
}

func run(out io.Writer) error {
	dir, err := os.MkdirTemp("", "rampart-secure-sensor-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	f, err := sim.StartFleet(sim.FleetOptions{Dir: dir})
	if err != nil {
		return err
	}
	defer f.Close()
	v1, err := f.SignFirmware("1.0.0", 4000)
	if err != nil {
		return err
	}
	if err := f.RegisterRelease(ctx, v1, "sensor firmware"); err != nil {
		return err
	}
	d, err := sim.Manufacture(dir+"/sensor", 0, f, v1)
	if err != nil {
		return err
	}
	defer d.PowerOff()
	if err := f.Endorse(ctx, []*sim.Device{d}); err != nil {
		return err
	}
	if _, err := d.PowerOn(); err != nil {
		return err
	}
	a, err := d.StartAgent(f, sim.AgentOptions{Interval: time.Hour, Backoff: agent.Backoff{Base: 20 * time.Millisecond}})
	if err != nil {
		return err
	}
	if err := a.EnsureEnrolled(ctx); err != nil {
		return err
	}
	if err := a.Connect(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "sensor %s enrolled by attestation; its key never left the SPE\n", a.DeviceID())

	// The sensor application signs through its own SPE session.
	l, err := d.Platform().Server.Local(-1)
	if err != nil {
		return err
	}
	cl, err := psaclient.NewClient(l)
	if err != nil {
		return err
	}
	defer cl.Close()
	signer, err := psaclient.NewSigner(cl, agent.DefaultKeyID)
	if err != nil {
		return err
	}
	var readings []Reading
	for i := range 3 {
		b, _ := json.Marshal(body{Device: a.DeviceID(), Seq: i, TS: time.Now().UnixMilli(), Temp: 21.5 + float64(i)/10})
		h := sha256.Sum256(b)
		sig, err := signer.Sign(nil, h[:], crypto.SHA256)
		if err != nil {
			return err
		}
		r := Reading{Body: b, Sig: sig}
		msg, _ := json.Marshal(r)
		if err := a.PublishTo(ctx, "sensor", msg, false); err != nil {
			return err
		}
		if err := a.Publish(ctx, map[string]float64{"temperature": 21.5 + float64(i)/10}); err != nil {
			return err
		}
		readings = append(readings, r)
	}
	fmt.Fprintf(out, "published %d signed readings over mutual-TLS MQTT (acknowledged by the broker)\n", len(readings))

	// The verifier: the device's certificate comes from the fleet's record,
	// and only the fleet CA is trusted.
	certs, err := f.Server.Store().Certificates(ctx, a.DeviceID())
	if err != nil || len(certs) == 0 {
		return fmt.Errorf("no certificate on record: %v", err)
	}
	cert, err := x509.ParseCertificate(certs[len(certs)-1].DER)
	if err != nil {
		return err
	}
	for _, r := range readings {
		if err := verify(r, cert, f.Roots()); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "verified %d readings: chain to the fleet CA, device %s, ECDSA signature\n", len(readings), cert.Subject.CommonName)
	forged := readings[0]
	forged.Body = []byte(string(forged.Body[:len(forged.Body)-5]) + "99.9}")
	if err := verify(forged, cert, f.Roots()); err == nil {
		return errors.New("an altered reading verified")
	} else {
		fmt.Fprintf(out, "altered reading refused: %v\n", err)
	}
	return nil
}

func verify(r Reading, cert *x509.Certificate, roots *x509.CertPool) error {
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	var b body
	if err := json.Unmarshal(r.Body, &b); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	if b.Device != cert.Subject.CommonName {
		return fmt.Errorf("reading names device %q, certificate %q", b.Device, cert.Subject.CommonName)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return errors.New("certificate key is not ECDSA")
	}
	h := sha256.Sum256(r.Body)
	if !ecdsa.VerifyASN1(pub, h[:], r.Sig) {
		return errors.New("signature does not verify")
	}
	return nil
}
