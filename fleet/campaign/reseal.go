package campaign

import (
	"encoding/json"
	"fmt"
	"io"
)

// ResealSpec returns a campaign's stored spec with its download key sealed
// under newSecret (the key secret an emergency CA rotation makes the
// server's), opened under oldSecret; a key stored in clear is sealed and
// dropped. The key itself is kept: the job URLs devices hold stay valid.
// A spec without a key, or whose key does not open under oldSecret, is
// returned as it is (New replaces such a key, as for any other server).
func ResealSpec(campaignID, spec string, oldSecret, newSecret []byte, rnd io.Reader) (string, error) {
	var ss storedSpec
	if err := json.Unmarshal([]byte(spec), &ss); err != nil {
		return "", fmt.Errorf("campaign: %s: stored spec: %w", campaignID, err)
	}
	old := &Engine{cfg: Config{KeySecret: oldSecret, Rand: rnd}}
	k := ss.DownloadKey
	if len(k) != DownloadKeySize {
		if ss.SealedKey == nil {
			return spec, nil
		}
		var err error
		if k, err = old.openKey(campaignID, ss.SealedKey); err != nil {
			return spec, nil
		}
	}
	next := &Engine{cfg: Config{KeySecret: newSecret, Rand: rnd}}
	b, err := next.marshalStored(campaignID, ss.Spec, k)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// OpensUnder reports whether a stored spec's download key opens under
// secret (or is stored in clear): what a holder of secret, and a copy of
// the database, could mint download tokens with.
func OpensUnder(campaignID, spec string, secret []byte) bool {
	var ss storedSpec
	if json.Unmarshal([]byte(spec), &ss) != nil {
		return false
	}
	if len(ss.DownloadKey) == DownloadKeySize {
		return true
	}
	if ss.SealedKey == nil {
		return false
	}
	_, err := (&Engine{cfg: Config{KeySecret: secret}}).openKey(campaignID, ss.SealedKey)
	return err == nil
}
