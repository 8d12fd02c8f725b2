package fleet

import (
	"context"
	"time"

	"rampart/fleet/transfer"
)

// startTransfer loads (or creates) the fleet's owner key and wires the
// ownership service (docs/ownership-and-rotation.md).
func (s *Server) startTransfer(ctx context.Context) error {
	secret, err := s.secretCA().DeriveSecret(labelOwnerKey)
	if err != nil {
		return err
	}
	key, err := transfer.LoadOwnerKey(ctx, s.db, secret, s.opts.Rand)
	if err != nil {
		return err
	}
	s.transfer, err = transfer.New(transfer.Config{Store: s.db, Manufacturers: s.cfg.manufacturerKeys, Owner: key, Jobs: s.jobs,
		Publish: s.publishJob, Disconnect: s.disconnect, Enrollment: s.enrollment,
		Rand: s.opts.Rand, Now: s.opts.Now, Log: s.log.With("component", "transfer")})
	return err
}

// enrollment is what this fleet's onboarding tickets name: its enrollment
// URL, its CA certificate and its MQTT endpoints.
func (s *Server) enrollment() (string, [][]byte, []string) {
	return s.EnrollURL(), [][]byte{s.ca.Certificate().Raw}, s.mqttEndpoints()
}

// onStatus is the broker's hook for what a device publishes on its status
// topic: a transfer acknowledgement goes to the ownership service, the
// rest to the campaign engine.
func (s *Server) onStatus(id string, p []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if s.transfer != nil && s.transfer.Report(ctx, id, p) {
		return
	}
	s.camps.Report(context.Background(), id, p)
}

// Transfer is the server's ownership service.
func (s *Server) Transfer() *transfer.Service { return s.transfer }
