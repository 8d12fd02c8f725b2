package image

import (
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Parsers for the values of imgtool sign's options that are not plain
// numbers, with imgtool's syntax, so that every command line that builds
// SignOptions reads them the same way.

var (
	depImageRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\((\d+)`) })
	depVersionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`,\s*([0-9.+]+)\)`) })
)

// ParseDependencies reads imgtool's -d/--dependencies value,
// "(image_id,version), ...", as imgtool does: image IDs and versions are
// found separately and must pair up.
func ParseDependencies(s string) ([]Dependency, error) {
	ids := depImageRE().FindAllStringSubmatch(s, -1)
	vers := depVersionRE().FindAllStringSubmatch(s, -1)
	if len(ids) == 0 {
		return nil, argErr("dependencies", "%q: want \"(image_id,version), ...\"", s)
	}
	if len(ids) != len(vers) {
		return nil, argErr("dependencies", "%q: %d image IDs but %d versions", s, len(ids), len(vers))
	}
	var out []Dependency
	for i := range ids {
		id, err := strconv.ParseUint(ids[i][1], 10, 8)
		if err != nil {
			return nil, argErr("dependencies", "image ID %q is not 0..255", ids[i][1])
		}
		v, err := ParseVersion(vers[i][1])
		if err != nil {
			return nil, argErr("dependencies", "image %d: %q is not a version maj.min.rev+build", id, vers[i][1])
		}
		out = append(out, Dependency{ImageID: uint8(id), Version: v})
	}
	return out, nil
}

// ParseCustomTLVValue reads the VALUE of imgtool's --custom-tlv TAG VALUE:
// hex when it starts with 0x (an even number of digits), the text itself
// otherwise.
func ParseCustomTLVValue(s string) ([]byte, error) {
	if !strings.HasPrefix(s, "0x") {
		return []byte(s), nil
	}
	if len(s)%2 != 0 {
		return nil, argErr("custom-tlv", "value %q: custom TLV length is odd", s)
	}
	v, err := hex.DecodeString(s[2:])
	if err != nil {
		return nil, argErr("custom-tlv", "value %q: not hex", s)
	}
	return v, nil
}

// ParsePublicKeyFormat reads imgtool's --public-key-format value: "hash"
// or "full".
func ParsePublicKeyFormat(s string) (PublicKeyFormat, error) {
	switch s {
	case "hash":
		return KeyFormatHash, nil
	case "full":
		return KeyFormatFull, nil
	}
	return 0, argErr("public-key-format", "%q: want hash or full", s)
}
