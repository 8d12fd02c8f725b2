package attest

import (
	"errors"

	"rampart/internal/cborscan"
)

// The COSE_Sign1 array, its protected header and the claims map are split
// with internal/cborscan, the one low-level CBOR reader, without
// reflection: the verification path parses the claims of every token.
// Software-component maps are read by package swcomponent.

func major(raw []byte) byte { return cborscan.Major(raw) }

func wrongType(name string, raw []byte, want string) error {
	return claimErr(name, ErrClaimSyntax, "%s, want %s", cborscan.MajorName(major(raw)), want)
}

// readMap splits a definite-length map into its entries (cborscan.SplitMap),
// naming the map name in errors.
func readMap(b []byte, name string, limit int, dst []cborscan.Entry) ([]cborscan.Entry, error) {
	es, err := cborscan.SplitMap(b, limit, maxNesting, dst)
	if err != nil {
		if errors.Is(err, cborscan.ErrTooMany) {
			return nil, claimErr(name, ErrOversized, "%v", err)
		}
		return nil, claimErr(name, ErrClaimSyntax, "%v", err)
	}
	return es, nil
}

// readArray splits a definite-length array at the start of b into its
// items; size is the array's length in bytes.
func readArray(b []byte, name string, limit int) (items [][]byte, size int, err error) {
	major, count, n, err := cborscan.Head(b)
	if err != nil {
		return nil, 0, claimErr(name, ErrClaimSyntax, "malformed CBOR: %v", err)
	}
	if major != cborscan.Array {
		return nil, 0, wrongType(name, b, "array")
	}
	if count > uint64(limit) {
		return nil, 0, claimErr(name, ErrOversized, "%d items, limit %d", count, limit)
	}
	items = make([][]byte, 0, count)
	off := n
	for i := uint64(0); i < count; i++ {
		s, err := cborscan.ItemSize(b[off:], 1, maxNesting)
		if err != nil {
			return nil, 0, claimErr(name, ErrClaimSyntax, "malformed CBOR: %v", err)
		}
		items = append(items, b[off:off+s])
		off += s
	}
	return items, off, nil
}
