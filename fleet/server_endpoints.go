package fleet

import (
	"context"
	"net/url"
	"slices"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/ca"
)

// Download endpoints in a cluster (docs/agent.md, "Download"; docs/scale-
// out.md, "Rolling upgrade"): a device whose download was cut by a node
// going away resumes it from another endpoint the job's signer certified.
// A node's job signer therefore certifies this node's advertised
// enrollment endpoint and those of every live node: those live when it
// starts, and then, re-certified within a second or two of a change in the
// registry, those of the nodes that joined since (recertifyLoop). The jobs
// it signs name its own advertised enrollment endpoint.

// certifyNodeEndpoints adds the nodes' advertised enrollment endpoints to
// the endpoints the job signer certifies (Options.ImageEndpoints).
func (s *Server) certifyNodeEndpoints(ctx context.Context) {
	s.configuredImageEndpoints = slices.Clone(s.opts.ImageEndpoints)
	enroll := []string{s.cfg.Cluster.Advertise.Enroll}
	if l, err := s.node.Nodes(ctx); err == nil {
		for _, n := range l {
			enroll = append(enroll, n.Enroll)
		}
	} else {
		s.log.Warn("node registry not read: the job signer certifies this node's enrollment endpoint only", "err", err)
	}
	for _, e := range enroll {
		if usableURL(e) && !slices.Contains(s.opts.ImageEndpoints, e) {
			s.opts.ImageEndpoints = append(s.opts.ImageEndpoints, e)
		}
	}
}

// certifiedEndpoints are the endpoints the job signer should certify now:
// those configured, this node's advertised enrollment endpoint and those
// of the other live nodes at the last heartbeat, normalized and sorted.
func (s *Server) certifiedEndpoints() []string {
	var out []string
	for _, e := range append(append(slices.Clone(s.configuredImageEndpoints), s.cfg.Cluster.Advertise.Enroll), s.node.PeerEnroll()...) {
		if u, err := ca.ParseEndpoint(e); err == nil && usableURL(e) && !slices.Contains(out, u.String()) {
			out = append(out, u.String())
		}
	}
	slices.Sort(out)
	return out
}

// recertify has the CA certify the job signer's key anew when the set of
// endpoints to certify changed (a node joined or left); jobs signed from
// then on carry the new certificate.
func (s *Server) recertify() error {
	want := s.certifiedEndpoints()
	var have []string
	for _, u := range s.jobs.Certificate().URIs {
		if u.Scheme == "https" {
			have = append(have, u.String())
		}
	}
	slices.Sort(have)
	if slices.Equal(want, have) {
		return nil
	}
	cert, err := s.ca.IssueJobSigner(s.jobs.Key.Public(), want, jobSignerTTL)
	if err != nil {
		return err
	}
	s.jobs.SetCert(cert)
	s.log.Info("job signer certified anew for the live nodes' endpoints", "endpoints", want)
	return nil
}

// recertifyLoop runs recertify every second (the registry's heartbeat)
// until ctx ends.
func (s *Server) recertifyLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.recertify(); err != nil {
			s.log.Warn("job signer not certified anew", "err", err)
		}
	}
}

// imageBase is the base URL of the image URLs in jobs: this node's
// advertised enrollment endpoint in a cluster, its listener otherwise.
func (s *Server) imageBase() string {
	if s.cfg.Clustered() && usableURL(s.cfg.Cluster.Advertise.Enroll) {
		return s.cfg.Cluster.Advertise.Enroll
	}
	return s.EnrollURL()
}

// usableEndpoint reports whether a device can dial e (host:port): not a
// wildcard address or port 0 (advertisable).
func usableEndpoint(e string) bool { return len(advertisable([]string{e})) == 1 }

// usableURL is usableEndpoint for an https://host[:port] URL.
func usableURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "https" && usableEndpoint(deviceproto.Endpoint(u))
}
