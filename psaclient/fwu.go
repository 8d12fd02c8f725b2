package psaclient

import (
	"rampart/ipc"
	"rampart/psa"
)

// FWU is a client of the Firmware Update service.
type FWU struct{ s service }

// NewFWU returns a FWU client over t. Closing it closes t.
func NewFWU(t ipc.Transport) *FWU {
	return &FWU{service{t: t, sid: psa.FWUSID, version: psa.FWUVersion, name: "fwu"}}
}

// call runs op with h as input vector 0 (when op's layout has a header) and
// data after it.
func (c *FWU) call(name string, op psa.FWUOp, h psa.FWUHeader, data [][]byte, outSize ...int) ([][]byte, error) {
	hdr := psa.AppendFWUHeader(nil, op, h)
	if hdr == nil {
		return c.s.call(name, int32(op), data, outSize...)
	}
	in := make([][]byte, 0, 1+len(data))
	in = append(in, hdr)
	return c.s.call(name, int32(op), append(in, data...), outSize...)
}

// Query is psa_fwu_query.
func (c *FWU) Query(comp psa.FWUComponent) (psa.FWUComponentInfo, error) {
	out, err := c.call("query", psa.FWUOpQuery, psa.FWUHeader{Component: comp}, nil, psa.FWUComponentInfoSize)
	if err != nil {
		return psa.FWUComponentInfo{}, err
	}
	return parse(&c.s, "query", out[0], psa.ParseFWUComponentInfo)
}

// Start is psa_fwu_start (Rampart takes no separate manifest: vector 1 is
// the empty manifest).
func (c *FWU) Start(comp psa.FWUComponent) error {
	_, err := c.call("start", psa.FWUOpStart, psa.FWUHeader{Component: comp}, [][]byte{nil})
	return err
}

// Write is psa_fwu_write. Blocks must arrive in order.
func (c *FWU) Write(comp psa.FWUComponent, offset uint32, block []byte) error {
	_, err := c.call("write", psa.FWUOpWrite, psa.FWUHeader{Component: comp, Offset: offset}, [][]byte{block})
	return err
}

// Finish is psa_fwu_finish: the SPE verifies the image and it becomes a
// CANDIDATE, or FAILED when it does not verify.
func (c *FWU) Finish(comp psa.FWUComponent) error {
	_, err := c.call("finish", psa.FWUOpFinish, psa.FWUHeader{Component: comp}, nil)
	return err
}

// Cancel is psa_fwu_cancel.
func (c *FWU) Cancel(comp psa.FWUComponent) error {
	_, err := c.call("cancel", psa.FWUOpCancel, psa.FWUHeader{Component: comp}, nil)
	return err
}

// Clean is psa_fwu_clean.
func (c *FWU) Clean(comp psa.FWUComponent) error {
	_, err := c.call("clean", psa.FWUOpClean, psa.FWUHeader{Component: comp}, nil)
	return err
}

// Install is psa_fwu_install; reboot reports PSA_SUCCESS_REBOOT.
func (c *FWU) Install() (reboot bool, err error) {
	_, err = c.call("install", psa.FWUOpInstall, psa.FWUHeader{}, nil)
	return rebootStatus(err)
}

// RequestReboot is psa_fwu_request_reboot.
func (c *FWU) RequestReboot() error {
	_, err := c.call("request_reboot", psa.FWUOpRequestReboot, psa.FWUHeader{}, nil)
	return err
}

// Accept is psa_fwu_accept.
func (c *FWU) Accept() error {
	_, err := c.call("accept", psa.FWUOpAccept, psa.FWUHeader{}, nil)
	return err
}

// Reject is psa_fwu_reject; reboot reports PSA_SUCCESS_REBOOT (a trial
// image is reverted by the next boot).
func (c *FWU) Reject(errCode int32) (reboot bool, err error) {
	_, err = c.call("reject", psa.FWUOpReject, psa.FWUHeader{Error: errCode}, nil)
	return rebootStatus(err)
}

// rebootStatus turns PSA_SUCCESS_REBOOT, which the transport reports as a
// non-zero status, into success with reboot set.
func rebootStatus(err error) (reboot bool, _ error) {
	if err == nil {
		return false, nil
	}
	if errorIs(err, psa.SuccessReboot) {
		return true, nil
	}
	return false, err
}

// Close closes the transport.
func (c *FWU) Close() error { return c.s.close() }
