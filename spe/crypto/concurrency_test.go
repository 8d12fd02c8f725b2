package crypto

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"rampart/psa"
	"rampart/psaclient"
)

// Many clients at once, each with its own client ID (in-process sessions)
// and the same key IDs: every call succeeds and every result is the
// caller's own.
func TestManyConcurrentClients(t *testing.T) {
	e := startSPE(t, "", nil)
	const clients, rounds = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(client int32) {
			defer wg.Done()
			l, err := e.srv.Local(client)
			if err != nil {
				errs <- err
				return
			}
			c, err := psaclient.NewClient(l)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			secret := bytes.Repeat([]byte{byte(-client)}, 32)
			id, err := c.ImportKey(psa.KeyAttributes{Type: psa.KeyTypeHMAC, Lifetime: psa.LifetimePersistent, ID: 1,
				Usage: psa.UsageSignMessage | psa.UsageExport, Algorithm: psa.AlgHMAC(psa.AlgSHA256)}, secret)
			if err != nil {
				errs <- err
				return
			}
			for r := 0; r < rounds; r++ {
				got, err := c.ExportKey(id)
				if err != nil || !bytes.Equal(got, secret) {
					errs <- fmt.Errorf("client %d round %d: export %x %v", client, r, got, err)
					return
				}
				if _, err := c.MACCompute(id, psa.AlgHMAC(psa.AlgSHA256), []byte("m")); err != nil {
					errs <- err
					return
				}
			}
		}(int32(-1 - i))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
