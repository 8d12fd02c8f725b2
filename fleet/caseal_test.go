package fleet

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/ca"
	"rampart/fleet/campaign"
	"rampart/fleet/store"
	"rampart/fleet/transfer"
	"rampart/image"
)

// sealedSecrets is what a holder of a CA key derives: the secrets the
// campaign download keys and the owner key are sealed under.
type sealedSecrets struct{ camp, owner []byte }

func derived(t *testing.T, c *ca.CA) sealedSecrets {
	t.Helper()
	camp, err := c.DeriveSecret(labelCampaignKeys)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := c.DeriveSecret(labelOwnerKey)
	if err != nil {
		t.Fatal(err)
	}
	return sealedSecrets{camp, owner}
}

// opens reports whether every stored campaign download key and the owner
// key open under s (a copy of the database and the key that derives s).
func (s sealedSecrets) opens(t *testing.T, db *store.DB) (camps, owner bool) {
	t.Helper()
	ctx := context.Background()
	rows, err := db.Campaigns(ctx)
	if err != nil || len(rows) == 0 {
		t.Fatalf("campaigns: %d, %v", len(rows), err)
	}
	camps = true
	for _, r := range rows {
		camps = camps && campaign.OpensUnder(r.ID, r.Spec, s.camp)
	}
	sealed, err := db.OwnerKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return camps, transfer.OwnerKeyOpens(sealed, s.owner)
}

// restart shuts the server down and starts it again on the same data.
func (f *fixture) restart() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f.srv.Shutdown(ctx)
	f.start()
}

// sealingFleet is a server with a campaign under way (a device holding
// its job) and an owner key.
func sealingFleet(t *testing.T, backend string) (*fixture, deviceproto.Job) {
	f := newFixture(t, backend)
	return f, startCampaign(t, f)
}

// startCampaign starts a campaign for a new device and returns its job.
func startCampaign(t *testing.T, f *fixture) deviceproto.Job {
	ctx := context.Background()
	v, _ := image.ParseVersion("2.0.0")
	sc := v.SecurityCounter()
	res, err := image.Sign(bytes.Repeat([]byte{0x5A}, 4096), &image.SignOptions{Key: f.relKey, HeaderSize: 0x200, PadHeader: true, Version: v, SecurityCounter: &sc, BootRecord: "SPE", Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	rel, _, err := campaign.Upload(ctx, f.srv.Store(), res.Bytes, f.srv.cfg.releaseKeys, false, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	d := f.newDevices(1)[0]
	if err := d.enroll(false); err != nil {
		t.Fatal(err)
	}
	u := f.updater(t, d)
	if _, err := f.srv.Campaigns().Create(ctx, campaign.Spec{ID: "sealed", Release: hex.EncodeToString(rel.Component.MeasurementValue), MaxConcurrent: 1,
		Phases: []campaign.Phase{{Percent: 100, FailureThreshold: 0.5}}}, "test"); err != nil {
		t.Fatal(err)
	}
	j := u.job(t)
	u.download(t, j)
	return j
}

// download fetches the job's image from the server as it runs now (its
// port changes with each start): the campaign's download key is the one
// the job's URL was made with.
func (f *fixture) downloadAgain(t *testing.T, j deviceproto.Job) {
	t.Helper()
	ju, err := url.Parse(j.URL)
	if err != nil {
		t.Fatal(err)
	}
	now, _ := url.Parse(f.srv.imageBase())
	ju.Host = now.Host
	r, err := f.http.Get(ju.String())
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("download of the job's image after the rotation: %d", r.StatusCode)
	}
}

// TestEmergencyRotationReseals: after an emergency CA rotation no sealed
// campaign download key or owner key opens under the secrets the leaked
// (predecessor's) key derives; they open under the successor's; and the
// server, restarted, still serves the campaign (the same key: the job's
// URL still downloads) and keeps the same owner key.
func TestEmergencyRotationReseals(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			f, j := sealingFleet(t, backend)
			ctx := context.Background()
			leaked := derived(t, f.srv.ca)
			owner := f.srv.Transfer().OwnerKey()
			if c, o := leaked.opens(t, f.srv.Store()); !c || !o {
				t.Fatalf("before the rotation the CA's secrets open campaigns %v, owner key %v", c, o)
			}
			if _, err := f.srv.RotateCA(ctx, true, 60000, "test"); err != nil {
				t.Fatal(err)
			}
			f.restart() // the switch: the re-seal
			if c, o := leaked.opens(t, f.srv.Store()); c || o {
				t.Fatalf("after an emergency rotation the leaked key's secrets open campaigns %v, owner key %v", c, o)
			}
			if c, o := derived(t, f.srv.ca).opens(t, f.srv.Store()); !c || !o {
				t.Fatalf("the successor's secrets open campaigns %v, owner key %v", c, o)
			}
			f.restart()
			if f.srv.secretCA() == f.srv.origCA {
				t.Fatal("after a restart the original CA derives the secrets again")
			}
			f.downloadAgain(t, j)
			if s, err := f.srv.Campaigns().Status("sealed", false); err != nil || s.State != campaign.Running {
				t.Fatalf("campaign after the rotation: %+v %v", s, err)
			}
			if !f.srv.Transfer().OwnerKey().Equal(owner) {
				t.Fatal("the owner key changed")
			}
		})
	}
}

// TestRotationAfterEmergencyKeepsSeal: a normal rotation after an
// emergency one (which replaces the ca_rotation row) keeps the emergency
// successor as the sealing CA, and a normal rotation alone keeps the
// original CA: nothing is re-sealed, nothing lost.
func TestRotationAfterEmergencyKeepsSeal(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			f, j := sealingFleet(t, backend)
			ctx := context.Background()
			orig := derived(t, f.srv.ca)
			if _, err := f.srv.RotateCA(ctx, false, 60000, "test"); err != nil {
				t.Fatal(err)
			}
			f.restart()
			if c, o := orig.opens(t, f.srv.Store()); !c || !o {
				t.Fatalf("after a normal rotation the original secrets open campaigns %v, owner key %v", c, o)
			}
			if _, err := f.srv.Store().CASeal(ctx); err == nil {
				t.Fatal("a normal rotation recorded a sealing CA")
			}
			f.downloadAgain(t, j)
			if _, err := f.srv.RotateCA(ctx, true, 60000, "test"); err != nil {
				t.Fatal(err)
			}
			f.restart()
			gen3 := derived(t, f.srv.ca)
			// Retire generation 3 by hand (its devices would move at
			// their pace) and rotate normally to generation 4.
			if moved, err := f.srv.Store().AdvanceCARotation(ctx, 3, store.RotationActive, store.RotationRetired, nil); err != nil || !moved {
				t.Fatalf("retire: %v %v", moved, err)
			}
			f.restart()
			if _, err := f.srv.RotateCA(ctx, false, 60000, "test"); err != nil {
				t.Fatal(err)
			}
			f.restart()
			if r, err := f.srv.Store().CARotation(ctx); err != nil || r.Generation != 4 || r.State != store.RotationActive {
				t.Fatalf("rotation: %+v %v", r, err)
			}
			if c, o := gen3.opens(t, f.srv.Store()); !c || !o {
				t.Fatalf("after a normal rotation the emergency successor's secrets open campaigns %v, owner key %v", c, o)
			}
			for name, s := range map[string]sealedSecrets{"original": orig, "generation 4": derived(t, f.srv.ca)} {
				if c, o := s.opens(t, f.srv.Store()); c || o {
					t.Fatalf("the %s CA's secrets open campaigns %v, owner key %v", name, c, o)
				}
			}
			f.downloadAgain(t, j)
		})
	}
}

// TestEmergencyRotationResealsCluster: with the CA shared in the store (a
// cluster), the node that switches first re-seals; the other, restarted,
// loads the sealing CA from the store: it loads the campaigns (a key that
// does not open stops a clustered node), serves the job's image, has the
// same owner key, and both nodes derive the same nonce key, not the leaked
// key's.
func TestEmergencyRotationResealsCluster(t *testing.T) {
	p := newClusterPair(t, false)
	ctx := context.Background()
	j := startCampaign(t, p.a)
	leaked := derived(t, p.a.srv.ca)
	leakedNonce, _ := p.a.srv.ca.DeriveSecret(labelNonceKey)
	owner := p.a.srv.Transfer().OwnerKey()
	if _, err := p.a.srv.RotateCA(ctx, true, 60000, "test"); err != nil {
		t.Fatal(err)
	}
	p.a.restart()
	p.b.restart()
	if c, o := leaked.opens(t, p.b.srv.Store()); c || o {
		t.Fatalf("after an emergency rotation the leaked key's secrets open campaigns %v, owner key %v", c, o)
	}
	na, _ := p.a.srv.secretCA().DeriveSecret(labelNonceKey)
	nb, _ := p.b.srv.secretCA().DeriveSecret(labelNonceKey)
	if !bytes.Equal(na, nb) || bytes.Equal(na, leakedNonce) {
		t.Fatalf("nonce keys: the nodes agree %v, equal to the leaked key's %v", bytes.Equal(na, nb), bytes.Equal(na, leakedNonce))
	}
	for _, f := range []*fixture{p.a, p.b} {
		f.downloadAgain(t, j)
		if !f.srv.Transfer().OwnerKey().Equal(owner) {
			t.Fatal("the owner key changed")
		}
	}
}
