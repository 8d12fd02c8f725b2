package sim

import (
	"context"
	"fmt"

	"rampart/fleet/transfer"
	"rampart/ownership"
)

// IssueVoucher is the factory's first hop of a device's voucher: signed by
// the manufacturer's endorsement key, handing the device to this fleet's
// owner key; the fleet imports it (as `rampart fleet ownership import`).
func (f *Fleet) IssueVoucher(ctx context.Context, d *Device) (*transfer.Imported, error) {
	if f.Server == nil {
		return nil, fmt.Errorf("sim: voucher of device %d: the server runs in another process", d.Index)
	}
	v, err := ownership.Issue(f.Mfr, d.Endorse.InstanceID, f.Server.Transfer().OwnerKey(), ownership.Signing{Name: MfrName, Rand: f.Rand})
	if err != nil {
		return nil, err
	}
	b, err := v.Marshal()
	if err != nil {
		return nil, err
	}
	return f.Server.Transfer().Import(ctx, b, "sim")
}

// Sell moves a device this fleet owns to buyer, as two operators would: this
// fleet extends the voucher to the buyer's owner key, the buyer imports it
// (and answers with its ticket), this fleet releases the device with both.
func (f *Fleet) Sell(ctx context.Context, deviceID string, buyer *Fleet) (*transfer.Released, error) {
	ext, err := f.Server.Transfer().Extend(ctx, deviceID, buyer.Server.Transfer().OwnerKey(), "sim")
	if err != nil {
		return nil, err
	}
	imp, err := buyer.Server.Transfer().Import(ctx, ext, "sim")
	if err != nil {
		return nil, err
	}
	return f.Server.Transfer().Release(ctx, deviceID, ext, imp.Ticket, "sim")
}
