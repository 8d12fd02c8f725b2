package crypto_test

import (
	"fmt"

	"rampart/psa"
	"rampart/psaclient"
	"rampart/spe"
	"rampart/spe/crypto"
)

// In-process mode: the same services and frames inside the caller's own
// process, one session per simulated device. It gives no isolation at all.
func Example_inProcess() {
	svc, _ := crypto.New(crypto.Options{}) // volatile keys only
	srv := spe.New(spe.Options{})
	if err := svc.Register(srv); err != nil {
		panic(err)
	}
	session, _ := srv.Local(-1) // the caller chooses the client ID
	c, _ := psaclient.NewClient(session)
	defer c.Close()

	id, _ := c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeECCKeyPair(psa.ECCFamilySECPR1), Bits: 256,
		Usage: psa.UsageSignHash | psa.UsageVerifyHash, Algorithm: psa.AlgECDSA(psa.AlgSHA256)})
	sig, _ := c.SignMessage(id, psa.AlgECDSA(psa.AlgSHA256), []byte("hello"))
	fmt.Println(len(sig), c.VerifyMessage(id, psa.AlgECDSA(psa.AlgSHA256), []byte("hello"), sig))
	_, err := c.ExportKey(id)
	fmt.Println(err)
	// Output:
	// 64 <nil>
	// psaclient: export_key: PSA_ERROR_NOT_PERMITTED
}
