package fleet

import (
	"context"
	"errors"
	"fmt"

	"rampart/fleet/ca"
	"rampart/fleet/campaign"
	"rampart/fleet/store"
	"rampart/fleet/transfer"
)

// The labels of the secrets the server derives from secretCA (ca
// DeriveSecret), one per purpose.
const (
	labelNonceKey     = "enroll nonce key"
	labelCampaignKeys = "campaign download keys"
	labelOwnerKey     = "ownership owner key"
)

// loadSealCA makes the store's sealing CA (the latest emergency
// rotation's successor) the one secretCA returns; without one, the
// original CA keeps deriving the secrets.
func (s *Server) loadSealCA(ctx context.Context, pass []byte, o ca.Options) error {
	c, err := s.db.CASeal(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if s.sealCA, err = ca.Load(c.CertPEM, c.KeyPEM, pass, o); err != nil {
		return fmt.Errorf("fleet: sealing CA (generation %d): %w", c.Generation, err)
	}
	return nil
}

// resealAttempts bounds the retries of an activation whose values changed
// between their read and its transaction (a node not yet restarted wrote
// a campaign meanwhile).
const resealAttempts = 5

// activateEmergency activates emergency rotation r: in one transaction
// (store.ActivateEmergency) the rotation becomes active, its successor
// next the sealing CA, and every campaign download key and the owner key
// are re-sealed under secrets derived from next, so that the leaked key
// and a copy of the database taken from then on open none of them. The
// node then loads the sealing CA from the store (whichever node moved it).
func (s *Server) activateEmergency(ctx context.Context, r *store.CARotation, next *ca.CA, pass []byte, o ca.Options, audit *store.AuditEntry) (bool, error) {
	seal := &store.CASeal{Generation: r.Generation, CertPEM: r.CertPEM, KeyPEM: r.KeyPEM}
	var moved bool
	var err error
	for range resealAttempts {
		var rs *store.Reseal
		if rs, err = s.resealAll(ctx, s.secretCA(), next); err != nil {
			return false, err
		}
		if moved, err = s.db.ActivateEmergency(ctx, r.Generation, seal, rs, audit); !errors.Is(err, store.ErrConflict) {
			break
		}
	}
	if err != nil {
		return false, fmt.Errorf("fleet: emergency rotation: re-seal: %w", err)
	}
	return moved, s.loadSealCA(ctx, pass, o)
}

// resealAll reads every sealed value and seals it again: opened with the
// secrets from old, sealed with those from next.
func (s *Server) resealAll(ctx context.Context, old, next *ca.CA) (*store.Reseal, error) {
	secrets := func(c *ca.CA) (camp, owner []byte, err error) {
		if camp, err = c.DeriveSecret(labelCampaignKeys); err != nil {
			return nil, nil, err
		}
		owner, err = c.DeriveSecret(labelOwnerKey)
		return camp, owner, err
	}
	oldCamp, oldOwner, err := secrets(old)
	if err != nil {
		return nil, err
	}
	newCamp, newOwner, err := secrets(next)
	if err != nil {
		return nil, err
	}
	camps, err := s.db.Campaigns(ctx)
	if err != nil {
		return nil, err
	}
	rs := &store.Reseal{}
	for _, c := range camps {
		spec, err := campaign.ResealSpec(c.ID, c.Spec, oldCamp, newCamp, s.opts.Rand)
		if err != nil {
			return nil, err
		}
		rs.Campaigns = append(rs.Campaigns, store.ResealedSpec{ID: c.ID, Old: c.Spec, New: spec})
	}
	sealed, err := s.db.OwnerKey(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return rs, nil
	}
	if err != nil {
		return nil, err
	}
	if rs.OwnerKey, err = transfer.ResealOwnerKey(sealed, oldOwner, newOwner, s.opts.Rand); err != nil {
		return nil, err
	}
	rs.OldOwnerKey = sealed
	return rs, nil
}
