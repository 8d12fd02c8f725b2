package fleet

import (
	"context"
	"net/url"
	"slices"

	"rampart/deviceproto"
)

// Download endpoints in a cluster (docs/agent.md, "Download"; docs/scale-
// out.md, "Rolling upgrade"): a device whose download was cut by a node
// going away resumes it from another endpoint the job's signer certified.
// A node's job signer therefore certifies this node's advertised
// enrollment endpoint and those of every node live when it starts, and the
// jobs it signs name its own advertised enrollment endpoint.

// certifyNodeEndpoints adds the nodes' advertised enrollment endpoints to
// the endpoints the job signer certifies (Options.ImageEndpoints).
func (s *Server) certifyNodeEndpoints(ctx context.Context) {
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
