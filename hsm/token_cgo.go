//go:build cgo

package hsm

import (
	"fmt"
	"strings"

	"github.com/miekg/pkcs11"
)

// findSlot returns the one slot whose token matches u's token attributes.
func findSlot(ctx *pkcs11.Ctx, u *URI) (uint, error) {
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("%w: C_GetSlotList: %w", ErrModule, err)
	}
	var found []uint
	var labels []string
	for _, s := range slots {
		ti, err := ctx.GetTokenInfo(s)
		if err != nil {
			continue
		}
		labels = append(labels, fmt.Sprintf("%q", trim(ti.Label)))
		if tokenMatches(u, s, ti) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		have := "none"
		if len(labels) > 0 {
			have = strings.Join(labels, ", ")
		}
		return 0, fmt.Errorf("%w: no token matches %s (tokens present: %s)", ErrNoToken, describeToken(u), have)
	}
	return 0, fmt.Errorf("%w: %d tokens match %s: add serial= or slot-id=", ErrAmbiguous, len(found), describeToken(u))
}

func tokenMatches(u *URI, slot uint, ti pkcs11.TokenInfo) bool {
	return (u.Token == "" || u.Token == trim(ti.Label)) &&
		(u.Manufacturer == "" || u.Manufacturer == trim(ti.ManufacturerID)) &&
		(u.Model == "" || u.Model == trim(ti.Model)) &&
		(u.Serial == "" || u.Serial == trim(ti.SerialNumber)) &&
		(u.SlotID < 0 || uint(u.SlotID) == slot)
}

func describeToken(u *URI) string {
	var p []string
	for _, kv := range [][2]string{{"token", u.Token}, {"manufacturer", u.Manufacturer}, {"model", u.Model}, {"serial", u.Serial}} {
		if kv[1] != "" {
			p = append(p, kv[0]+"="+kv[1])
		}
	}
	if u.SlotID >= 0 {
		p = append(p, fmt.Sprintf("slot-id=%d", u.SlotID))
	}
	if len(p) == 0 {
		return "(any token)"
	}
	return strings.Join(p, ";")
}

// trim drops the blank padding of PKCS#11's fixed-width strings.
func trim(s string) string { return strings.TrimRight(s, " \x00") }

// login opens a session on slot and logs the user in with the URI's PIN.
func login(ctx *pkcs11.Ctx, slot uint, u *URI, rw bool) (pkcs11.SessionHandle, error) {
	pin, err := u.ReadPIN()
	if err != nil {
		return 0, err
	}
	flags := uint(pkcs11.CKF_SERIAL_SESSION)
	if rw {
		flags |= pkcs11.CKF_RW_SESSION
	}
	sh, err := ctx.OpenSession(slot, flags)
	if err != nil {
		return 0, fmt.Errorf("%w: C_OpenSession: %w", ErrModule, err)
	}
	if u.PinSource == "" {
		return sh, nil
	}
	err = ctx.Login(sh, pkcs11.CKU_USER, pin)
	switch {
	case err == nil, isCKR(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN):
		return sh, nil
	case pinError(err):
		ctx.CloseSession(sh)
		return 0, fmt.Errorf("%w by token %s: %w", ErrPIN, describeToken(u), err)
	}
	ctx.CloseSession(sh)
	return 0, fmt.Errorf("%w: C_Login: %w", ErrModule, err)
}

// findOne returns the one object of class matching tmpl.
func findOne(ctx *pkcs11.Ctx, sh pkcs11.SessionHandle, tmpl []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := ctx.FindObjectsInit(sh, tmpl); err != nil {
		return nil, fmt.Errorf("%w: C_FindObjectsInit: %w", ErrModule, err)
	}
	objs, _, err := ctx.FindObjects(sh, 2)
	ctx.FindObjectsFinal(sh)
	if err != nil {
		return nil, fmt.Errorf("%w: C_FindObjects: %w", ErrModule, err)
	}
	return objs, nil
}

func objectTemplate(class uint, label string, id []byte) []*pkcs11.Attribute {
	t := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class)}
	if label != "" {
		t = append(t, pkcs11.NewAttribute(pkcs11.CKA_LABEL, label))
	}
	if id != nil {
		t = append(t, pkcs11.NewAttribute(pkcs11.CKA_ID, id))
	}
	return t
}

func describeObject(u *URI) string {
	var p []string
	if u.Object != "" {
		p = append(p, "object="+u.Object)
	}
	if u.ID != nil {
		p = append(p, "id="+escapeAll(u.ID))
	}
	if len(p) == 0 {
		return "(any key)"
	}
	return strings.Join(p, ";")
}
