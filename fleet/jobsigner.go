package fleet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"fmt"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/ca"
)

// jobSignerTTL is the validity of the job signer's certificate; like the
// TLS server certificate it is issued anew at every start.
const jobSignerTTL = 90 * 24 * time.Hour

// newJobSigner makes the key that signs the jobs the server publishes, and
// has the CA certify it as the fleet's job signer with the configured
// image endpoints. Like the TLS server key it lives in memory only, a new
// one each start: nothing is stored, and the certificate travels in every
// job (x5chain), so devices need nothing new after a restart. The CA key
// signs no job: a job signer key that leaked could sign jobs (to the
// endpoints certified here) until its certificate expires, but never a
// certificate.
func newJobSigner(c *ca.CA, o Options) (*deviceproto.JobSigner, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), o.Rand)
	if err != nil {
		return nil, fmt.Errorf("fleet: job signer key: %w", err)
	}
	cert, err := c.IssueJobSigner(&key.PublicKey, o.ImageEndpoints, jobSignerTTL)
	if err != nil {
		return nil, fmt.Errorf("fleet: job signer: %w", err)
	}
	return &deviceproto.JobSigner{Key: key, Cert: cert, Rand: o.Rand, Now: o.Now, TTL: o.JobTTL}, nil
}
