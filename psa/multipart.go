package psa

import "fmt"

// HashOperation is a multi-part hash running in the SPE
// (psa_hash_operation_t). It belongs to the connection that started it.
type HashOperation struct {
	c  *Client
	op uint32
}

// HashSetup starts a multi-part hash (psa_hash_setup).
func (c *Client) HashSetup(alg Algorithm) (*HashOperation, error) {
	out, err := c.call("hash_setup", OpHashSetup, [][]byte{u32s(uint32(alg))}, 4)
	if err != nil {
		return nil, err
	}
	id, err := parseID("hash_setup", out[0])
	return &HashOperation{c: c, op: uint32(id)}, err
}

// Update adds input (psa_hash_update).
func (o *HashOperation) Update(input []byte) error {
	_, err := o.c.call("hash_update", OpHashUpdate, [][]byte{u32s(o.op), input})
	return err
}

// Finish returns the hash and ends the operation (psa_hash_finish).
func (o *HashOperation) Finish() ([]byte, error) {
	out, err := o.c.call("hash_finish", OpHashFinish, [][]byte{u32s(o.op)}, maxHash)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// Verify compares the hash with expected in constant time and ends the
// operation (psa_hash_verify); a mismatch is ErrInvalidSignature.
func (o *HashOperation) Verify(expected []byte) error {
	_, err := o.c.call("hash_verify", OpHashVerify, [][]byte{u32s(o.op), expected})
	return err
}

// Abort ends the operation (psa_hash_abort).
func (o *HashOperation) Abort() error {
	_, err := o.c.call("hash_abort", OpHashAbort, [][]byte{u32s(o.op)})
	return err
}

// MACOperation is a multi-part MAC running in the SPE (psa_mac_operation_t).
type MACOperation struct {
	c  *Client
	op uint32
}

func (c *Client) macSetup(name string, op Op, id KeyID, alg Algorithm) (*MACOperation, error) {
	out, err := c.call(name, op, [][]byte{keyAlg(id, alg)}, 4)
	if err != nil {
		return nil, err
	}
	oid, err := parseID(name, out[0])
	return &MACOperation{c: c, op: uint32(oid)}, err
}

// MACSignSetup starts computing a MAC (psa_mac_sign_setup); the key needs
// UsageSignMessage.
func (c *Client) MACSignSetup(id KeyID, alg Algorithm) (*MACOperation, error) {
	return c.macSetup("mac_sign_setup", OpMACSignSetup, id, alg)
}

// MACVerifySetup starts checking a MAC (psa_mac_verify_setup); the key needs
// UsageVerifyMessage.
func (c *Client) MACVerifySetup(id KeyID, alg Algorithm) (*MACOperation, error) {
	return c.macSetup("mac_verify_setup", OpMACVerifySetup, id, alg)
}

// Update adds input (psa_mac_update).
func (o *MACOperation) Update(input []byte) error {
	_, err := o.c.call("mac_update", OpMACUpdate, [][]byte{u32s(o.op), input})
	return err
}

// SignFinish returns the MAC and ends the operation (psa_mac_sign_finish).
func (o *MACOperation) SignFinish() ([]byte, error) {
	out, err := o.c.call("mac_sign_finish", OpMACSignFinish, [][]byte{u32s(o.op)}, maxHash)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// VerifyFinish checks mac in constant time and ends the operation
// (psa_mac_verify_finish); a mismatch is ErrInvalidSignature.
func (o *MACOperation) VerifyFinish(mac []byte) error {
	_, err := o.c.call("mac_verify_finish", OpMACVerifyFinish, [][]byte{u32s(o.op), mac})
	return err
}

// Abort ends the operation (psa_mac_abort).
func (o *MACOperation) Abort() error {
	_, err := o.c.call("mac_abort", OpMACAbort, [][]byte{u32s(o.op)})
	return err
}

// String names the operation for logs.
func (o *HashOperation) String() string { return fmt.Sprintf("psa hash operation %d", o.op) }

// String names the operation for logs.
func (o *MACOperation) String() string { return fmt.Sprintf("psa MAC operation %d", o.op) }
