package fleet

import (
	"fmt"

	"rampart/fleet/ca"
	"rampart/hsm"
)

// openTokenCA opens the CA whose key is in a PKCS#11 token (ca.key): the
// key is used through the token for every signature, the certificate is
// data_dir's ca.crt (made by the token's key on first start).
func (s *Server) openTokenCA(cfg *Config, pass []byte, o ca.Options) (*ca.CA, error) {
	k, err := hsm.Open(cfg.CA.Key)
	if err != nil {
		return nil, fmt.Errorf("fleet: ca.key: %w", err)
	}
	c, err := ca.OpenExternal(cfg.DataDir, k, pass, o)
	if err != nil {
		k.Close()
		return nil, err
	}
	s.caKey = k
	s.log.Info("fleet CA key in a PKCS#11 token", "key", k.URI())
	return c, nil
}
