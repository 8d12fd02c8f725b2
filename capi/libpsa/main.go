// Command libpsa is libpsa-rampart: the PSA Crypto, Secure Storage (ITS and
// PS) and Initial Attestation C APIs as a client of Rampart's SPE. It is
// built with -buildmode=c-archive (libpsa-rampart.a) or c-shared
// (libpsa-rampart.so) by rampart/capi.Build, never run as a program; C code
// includes the headers in capi/include, written from the PSA specifications.
//
// Every C function encodes the same frames as rampart/psaclient with the
// layouts of rampart/psa and sends them over one connection to the SPE's
// Unix socket ($RAMPART_SPE_SOCKET, or /run/rampart/spe/spe.sock). Keys,
// multi-part operations and stored objects live in the SPE, which knows the
// caller by the socket's peer credentials: this library holds no key
// material and must never choose or send a client identity, nor retain a
// pointer the C caller passed once the call returns.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include
#include "psa/crypto_struct.h"
#include "psa/storage_common.h"
*/
import "C"

import (
	"errors"
	"os"
	"sync"
	"unsafe"

	"rampart/ipc"
	"rampart/psa"
)

// main is required by -buildmode=c-archive; it never runs.
func main() {}

// DefaultSocket is the SPE's socket when RAMPART_SPE_SOCKET is not set.
const DefaultSocket = "/run/rampart/spe/spe.sock"

// maxOut is the largest output the library asks the SPE for (ipc's MaxVec).
const maxOut = ipc.DefaultMaxVec

// conn is the process's one session with the SPE: the stateless services
// (storage, attestation) share it with the crypto service's handle, which
// psa_crypto_init opens. Calls are serialised, as on any one SPE session.
var conn struct {
	mu     sync.Mutex
	c      *ipc.Conn
	crypto uint64 // connection handle of the crypto service; 0 before psa_crypto_init
}

// transportLocked returns the connection, dialling it when needed.
func transportLocked() (*ipc.Conn, error) {
	if conn.c != nil {
		return conn.c, nil
	}
	path := getenv("RAMPART_SPE_SOCKET")
	if path == "" {
		path = DefaultSocket
	}
	c, err := ipc.Dial(path)
	if err != nil {
		return nil, err
	}
	conn.c = c
	return c, nil
}

// roundTripLocked sends req; a transport failure drops the connection (the
// SPE then frees the session's keys and operations) and answers
// COMMUNICATION_FAILURE, as does a reply with the wrong number of vectors.
func roundTripLocked(req *ipc.Request) ([][]byte, psa.Status) {
	c, err := transportLocked()
	if err != nil {
		return nil, psa.ErrCommunicationFailure
	}
	rep, err := c.RoundTrip(req)
	if err != nil {
		c.Close()
		conn.c, conn.crypto = nil, 0
		return nil, psa.ErrCommunicationFailure
	}
	if rep.Status != psa.Success {
		return nil, rep.Status
	}
	if len(rep.Out) != len(req.OutSize) {
		return nil, psa.ErrCommunicationFailure
	}
	return rep.Out, psa.Success
}

// cryptoInit opens the crypto service's handle once.
func cryptoInit() psa.Status {
	conn.mu.Lock()
	defer conn.mu.Unlock()
	return cryptoInitLocked()
}

func cryptoInitLocked() psa.Status {
	if conn.crypto != 0 {
		return psa.Success
	}
	c, err := transportLocked()
	if err != nil {
		return psa.ErrCommunicationFailure
	}
	rep, err := c.RoundTrip(&ipc.Request{Kind: ipc.KindConnect, SID: psa.CryptoSID, Version: psa.CryptoVersion})
	if err != nil {
		c.Close()
		conn.c = nil
		return psa.ErrCommunicationFailure
	}
	if rep.Status != psa.Success {
		return rep.Status
	}
	conn.crypto = rep.Handle
	return psa.Success
}

// cryptoCall runs one crypto operation: h (when not nil) is input vector 0
// in op's layout, data the vectors after it. A call before psa_crypto_init
// initialises the library itself, as TF-M's client does (the specification
// makes such a call the caller's error, so any answer is allowed; code
// written for TF-M, psa-arch-tests' attestation suite among it, relies on
// this one). The output vectors returned alias the connection's buffer:
// copy them out before the next call.
func cryptoCall(op psa.Op, h *psa.CryptoHeader, data [][]byte, outSize ...int) ([][]byte, psa.Status) {
	in := make([][]byte, 0, 1+len(data))
	if h != nil {
		in = append(in, psa.AppendCryptoHeader(nil, op, *h))
	}
	in = append(in, data...)
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if st := cryptoInitLocked(); st != psa.Success {
		return nil, st
	}
	return roundTripLocked(&ipc.Request{Kind: ipc.KindCall, Handle: conn.crypto, Type: int32(op), In: in, OutSize: sizes(outSize)})
}

// statelessCall runs one call of a stateless service (storage, attestation).
func statelessCall(sid, version uint32, typ int32, in [][]byte, outSize ...int) ([][]byte, psa.Status) {
	conn.mu.Lock()
	defer conn.mu.Unlock()
	return roundTripLocked(&ipc.Request{Kind: ipc.KindStateless, SID: sid, Version: version, Type: typ, In: in, OutSize: sizes(outSize)})
}

func sizes(n []int) []uint32 {
	s := make([]uint32, len(n))
	for i, v := range n {
		if v > maxOut {
			v = maxOut
		}
		if v < 0 {
			v = 0
		}
		s[i] = uint32(v)
	}
	return s
}

// bytesOf views n bytes of C memory at p without copying; the view must not
// outlive the call that received p. A NULL pointer is an empty view.
func bytesOf(p unsafe.Pointer, n C.size_t) []byte {
	if p == nil || n == 0 {
		return []byte{}
	}
	return unsafe.Slice((*byte)(p), int(n))
}

// u8 is bytesOf for uint8_t pointers.
func u8(p *C.uint8_t, n C.size_t) []byte { return bytesOf(unsafe.Pointer(p), n) }

// outSize is how much the library asks the SPE for when the caller's buffer
// holds n bytes: the SPE then answers BUFFER_TOO_SMALL itself.
func outSize(n C.size_t) int {
	if uint64(n) > maxOut {
		return maxOut
	}
	return int(n)
}

// putOut copies b to the caller's buffer of size bytes and stores its length.
func putOut(dst *C.uint8_t, size C.size_t, length *C.size_t, b []byte) C.psa_status_t {
	if length != nil {
		*length = 0
	}
	if uint64(len(b)) > uint64(size) {
		return C.psa_status_t(psa.ErrBufferTooSmall)
	}
	if len(b) > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(dst)), len(b)), b)
	}
	if length != nil {
		*length = C.size_t(len(b))
	}
	return 0
}

func status(s psa.Status) C.psa_status_t { return C.psa_status_t(s) }

// errStatus is the PSA status an error carries, or GENERIC_ERROR.
func errStatus(err error) psa.Status {
	var st ipc.Status
	if errors.As(err, &st) {
		return st
	}
	return psa.ErrGenericError
}

// getenv reads the environment the process started with: the Go runtime
// copies it when the library loads, so a variable must be set before that.
func getenv(k string) string { return os.Getenv(k) }
