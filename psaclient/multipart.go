package psaclient

import (
	"fmt"

	"rampart/psa"
)

// HashOperation is a multi-part hash running in the SPE
// (psa_hash_operation_t). It belongs to the connection that started it.
type HashOperation struct {
	c  *Client
	op psa.OperationID
}

// startOperation runs a setup call and returns the new operation's ID.
func (c *Client) startOperation(name string, op psa.Op, h *psa.CryptoHeader) (psa.OperationID, error) {
	out, err := c.call(name, op, h, nil, 4)
	if err != nil {
		return 0, err
	}
	id, err := parseID(name, out[0])
	return psa.OperationID(id), err
}

// opCall runs one call on a running operation: its header is the
// operation's ID, data are the vectors after it.
func (c *Client) opCall(name string, op psa.Op, id psa.OperationID, data [][]byte, outSize ...int) ([][]byte, error) {
	return c.call(name, op, &psa.CryptoHeader{Operation: id}, data, outSize...)
}

// HashSetup starts a multi-part hash (psa_hash_setup).
func (c *Client) HashSetup(alg psa.Algorithm) (*HashOperation, error) {
	id, err := c.startOperation("hash_setup", psa.OpHashSetup, &psa.CryptoHeader{Alg: alg})
	if err != nil {
		return nil, err
	}
	return &HashOperation{c: c, op: id}, nil
}

// Update adds input (psa_hash_update).
func (o *HashOperation) Update(input []byte) error {
	_, err := o.c.opCall("hash_update", psa.OpHashUpdate, o.op, [][]byte{input})
	return err
}

// Finish returns the hash and ends the operation (psa_hash_finish).
func (o *HashOperation) Finish() ([]byte, error) {
	out, err := o.c.opCall("hash_finish", psa.OpHashFinish, o.op, nil, maxHash)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// Verify compares the hash with expected in constant time and ends the
// operation (psa_hash_verify); a mismatch is ErrInvalidSignature.
func (o *HashOperation) Verify(expected []byte) error {
	_, err := o.c.opCall("hash_verify", psa.OpHashVerify, o.op, [][]byte{expected})
	return err
}

// Abort ends the operation (psa_hash_abort).
func (o *HashOperation) Abort() error {
	_, err := o.c.opCall("hash_abort", psa.OpHashAbort, o.op, nil)
	return err
}

// MACOperation is a multi-part MAC running in the SPE (psa_mac_operation_t).
type MACOperation struct {
	c  *Client
	op psa.OperationID
}

// MACSignSetup starts computing a MAC (psa_mac_sign_setup); the key needs
// UsageSignMessage.
func (c *Client) MACSignSetup(id psa.KeyID, alg psa.Algorithm) (*MACOperation, error) {
	oid, err := c.startOperation("mac_sign_setup", psa.OpMACSignSetup, keyAlg(id, alg))
	if err != nil {
		return nil, err
	}
	return &MACOperation{c: c, op: oid}, nil
}

// MACVerifySetup starts checking a MAC (psa_mac_verify_setup); the key needs
// UsageVerifyMessage.
func (c *Client) MACVerifySetup(id psa.KeyID, alg psa.Algorithm) (*MACOperation, error) {
	oid, err := c.startOperation("mac_verify_setup", psa.OpMACVerifySetup, keyAlg(id, alg))
	if err != nil {
		return nil, err
	}
	return &MACOperation{c: c, op: oid}, nil
}

// Update adds input (psa_mac_update).
func (o *MACOperation) Update(input []byte) error {
	_, err := o.c.opCall("mac_update", psa.OpMACUpdate, o.op, [][]byte{input})
	return err
}

// SignFinish returns the MAC and ends the operation (psa_mac_sign_finish).
func (o *MACOperation) SignFinish() ([]byte, error) {
	out, err := o.c.opCall("mac_sign_finish", psa.OpMACSignFinish, o.op, nil, maxHash)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// VerifyFinish checks mac in constant time and ends the operation
// (psa_mac_verify_finish); a mismatch is ErrInvalidSignature.
func (o *MACOperation) VerifyFinish(mac []byte) error {
	_, err := o.c.opCall("mac_verify_finish", psa.OpMACVerifyFinish, o.op, [][]byte{mac})
	return err
}

// Abort ends the operation (psa_mac_abort).
func (o *MACOperation) Abort() error {
	_, err := o.c.opCall("mac_abort", psa.OpMACAbort, o.op, nil)
	return err
}

// String names the operation for logs.
func (o *HashOperation) String() string { return fmt.Sprintf("psa hash operation %d", o.op) }

// String names the operation for logs.
func (o *MACOperation) String() string { return fmt.Sprintf("psa MAC operation %d", o.op) }
