package psaclient_test

import (
	"errors"
	"testing"

	"rampart/ipc"
	"rampart/psa"
	"rampart/psaclient"
)

// shortSPE stands for a broken or hostile SPE: every call succeeds with
// output vectors one byte long, whatever their layout says.
type shortSPE struct{}

func (shortSPE) RoundTrip(req *ipc.Request) (*ipc.Reply, error) {
	out := make([][]byte, len(req.OutSize))
	for i := range out {
		out[i] = []byte{1}
	}
	return &ipc.Reply{Kind: req.Kind, Status: ipc.Success, Handle: 1, Out: out}, nil
}

func (shortSPE) Close() error { return nil }

// A reply that does not match its layout is the SPE's communication
// failure, and says which layout it broke.
func TestMalformedRepliesAreCommunicationFailures(t *testing.T) {
	c, err := psaclient.NewClient(shortSPE{})
	if err != nil {
		t.Fatal(err)
	}
	_, errImport := c.ImportKey(psa.KeyAttributes{Type: psa.KeyTypeRawData}, []byte{1})
	_, errAttrs := c.KeyAttributes(1)
	_, errHash := c.HashSetup(psa.AlgSHA256)
	_, errLC := psaclient.NewLifecycle(shortSPE{}).Get()
	_, errSize := psaclient.NewAttestation(shortSPE{}).TokenSize(32, psa.AttestProfileRFC9783)
	_, errInfo := psaclient.NewITS(shortSPE{}).GetInfo(1)
	_, errQuery := psaclient.NewFWU(shortSPE{}).Query(0)
	_, errSupport := psaclient.NewPS(shortSPE{}).GetSupport()
	_, errAudit := psaclient.NewAudit(shortSPE{}).ReadAll(1 << 20)
	for name, err := range map[string]error{
		"import_key": errImport, "get_key_attributes": errAttrs, "hash_setup": errHash,
		"lifecycle get": errLC, "get_token_size": errSize, "its get_info": errInfo,
		"fwu query": errQuery, "ps get_support": errSupport, "audit size": errAudit,
	} {
		if !errors.Is(err, psa.ErrCommunicationFailure) || !errors.Is(err, psa.ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
