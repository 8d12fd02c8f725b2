package campaign_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"rampart/fleet/campaign"
	"rampart/fleet/store"
)

// legacyToken is a download token as the engine computes it from a key
// (token.go): what anyone holding the key can mint.
func legacyToken(key []byte, campaignID, deviceID, imageSHA string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("rampart-campaign-download-v1\x00" + campaignID + "\x00" + deviceID + "\x00" + imageSHA))
	return hex.EncodeToString(m.Sum(nil))
}

// jobToken splits a job URL into its image SHA-256 and token.
func jobToken(t *testing.T, u string) (sha, token string) {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(p.Path, "/images/"), p.Query().Get("token")
}

// storedStrings lists every string in a stored spec's JSON.
func storedStrings(t *testing.T, spec string) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(spec), &v); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// TestDownloadTokenNotMintableFromStore: with a copy of the campaigns row,
// an attacker tries every 32-byte window of every base64 or hex value in it
// as the download key. Before, the row held the key in clear
// ("download_key") and the first try minted the device's token.
func TestDownloadTokenNotMintableFromStore(t *testing.T) {
	b := newBench(t, 1)
	e := b.engine(t)
	imageCampaign(t, b, e, "mint", 4000)
	sha, want := jobToken(t, b.job(t, "dev-000").URL)
	rec, err := b.db.Campaign(context.Background(), "mint")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(rec.Spec, `"download_key"`) {
		t.Errorf("the stored spec has a download_key field: %s", rec.Spec)
	}
	tries := 0
	for _, s := range storedStrings(t, rec.Spec) {
		for _, dec := range []func(string) ([]byte, error){base64.StdEncoding.DecodeString, hex.DecodeString} {
			raw, err := dec(s)
			if err != nil {
				continue
			}
			for i := 0; i+campaign.DownloadKeySize <= len(raw); i++ {
				tries++
				if legacyToken(raw[i:i+campaign.DownloadKeySize], "mint", "dev-000", sha) == want {
					t.Fatalf("minted dev-000's download token from the stored spec (bytes %d.. of %q)", i, s)
				}
			}
		}
	}
	if tries == 0 {
		t.Fatal("nothing in the stored spec to try: the test checks nothing")
	}
}

// TestClearDownloadKeyMigrated: a campaign stored by an earlier version
// with its download key in clear keeps working across the upgrade (the job
// URLs devices hold stay valid), and its row is rewritten with the key
// sealed; a finished campaign loses its clear key; a key sealed under
// another secret (the CA replaced) is replaced and the old URLs refused.
func TestClearDownloadKeyMigrated(t *testing.T) {
	ctx := context.Background()
	b := newBench(t, 1)
	e := b.engine(t)
	imageCampaign(t, b, e, "legacy", 4000)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// What an earlier version stored: the spec and the key in clear.
	key := []byte("an old clear download key 32 B.!")
	rec, err := b.db.Campaign(ctx, "legacy")
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	json.Unmarshal([]byte(rec.Spec), &fields)
	delete(fields, "download_key_sealed")
	fields["download_key"] = base64.StdEncoding.EncodeToString(key)
	old, _ := json.Marshal(fields)
	if err := b.db.SetCampaignSpec(ctx, "legacy", string(old)); err != nil {
		t.Fatal(err)
	}
	done := map[string]any{"id": "done", "download_key": base64.StdEncoding.EncodeToString(key)}
	doneSpec, _ := json.Marshal(done)
	if err := b.db.PutCampaign(ctx, &store.CampaignRecord{ID: "done", Spec: string(doneSpec), State: string(campaign.Stopped)}, nil, nil); err != nil {
		t.Fatal(err)
	}
	sha, _ := jobToken(t, b.job(t, "dev-000").URL)
	held := b.srv.URL + "/images/" + sha + "?device=dev-000&token=" + legacyToken(key, "legacy", "dev-000", sha)

	b.mu.Lock()
	b.jobs = map[string][]byte{} // the restart publishes the job again, with the old key's URL
	b.mu.Unlock()
	e = b.engine(t)
	if err := e.Step(ctx); err != nil { // publishes the in-flight jobs again
		t.Fatal(err)
	}
	if code, _ := get(t, held, ""); code != 200 {
		t.Fatalf("URL made with the clear key, after the upgrade: %d, want 200", code)
	}
	if u := b.job(t, "dev-000").URL; !strings.HasSuffix(u, held[len(b.srv.URL):]) {
		t.Fatalf("republished job %s, want the URL the device holds", u)
	}
	for _, id := range []string{"legacy", "done"} {
		r, err := b.db.Campaign(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(r.Spec, `"download_key"`) || strings.Contains(r.Spec, base64.StdEncoding.EncodeToString(key)) {
			t.Errorf("%s: the clear key is still stored: %s", id, r.Spec)
		}
	}
	// Sealed now: a second restart opens it, the URL still works.
	e.Close()
	e = b.engine(t)
	if code, _ := get(t, held, ""); code != 200 {
		t.Fatalf("URL after a second restart: %d, want 200", code)
	}
	// Another key secret (the CA was replaced): a new key, the old URL refused.
	e.Close()
	b.secret = []byte("another key secret, 32 bytes....")
	b.mu.Lock()
	b.jobs = map[string][]byte{}
	b.mu.Unlock()
	if err := b.engine(t).Step(ctx); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, held, ""); code != 403 {
		t.Fatalf("old URL under another key secret: %d, want 403", code)
	}
	if code, _ := get(t, b.job(t, "dev-000").URL, ""); code != 200 {
		t.Fatalf("republished URL under another key secret: %d, want 200", code)
	}
}
