package zone

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Hex is an address or size in a YAML file: a decimal or 0x-prefixed integer,
// optionally with a K or M suffix (binary multiples: 16K = 0x4000).
type Hex uint64

// maxAddr is one past the last address of the 32-bit address space.
const maxAddr = 1 << 32

// ParseNumber parses "0x3E000", "253952", "248K" or "1M".
func ParseNumber(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimPrefix(t, "+")
	mul := uint64(1)
	switch {
	case strings.HasSuffix(t, "K") || strings.HasSuffix(t, "k"):
		mul, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "M") && !strings.HasPrefix(strings.ToLower(t), "0x"):
		mul, t = 1<<20, t[:len(t)-1]
	}
	t = strings.ReplaceAll(t, "_", "")
	if t == "" {
		return 0, fmt.Errorf("%w: empty number", ErrSyntax)
	}
	var v uint64
	var err error
	if strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0X") {
		v, err = strconv.ParseUint(t[2:], 16, 64)
	} else {
		v, err = strconv.ParseUint(t, 10, 64)
	}
	if err != nil || t[0] == '-' {
		return 0, fmt.Errorf("%w: %q is not a number (want decimal, 0x hex, or a K/M suffix)", ErrSyntax, s)
	}
	if v > maxAddr || v*mul > maxAddr {
		return 0, fmt.Errorf("%w: %q is beyond the 32-bit address space", ErrSyntax, s)
	}
	return v * mul, nil
}

// UnmarshalYAML accepts a scalar number.
func (h *Hex) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a number", n.Line)
	}
	v, err := ParseNumber(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*h = Hex(v)
	return nil
}

// MarshalYAML writes hexadecimal.
func (h Hex) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprintf("0x%X", uint64(h))}, nil
}
