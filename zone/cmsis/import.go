package cmsis

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"rampart/zone"
)

// ErrFormat is wrapped by every error about the content of a CMSIS-Zone file.
var ErrFormat = errors.New("cmsis: invalid CMSIS-Zone file")

// Limits.
const (
	MaxFileSize = zone.MaxFileSize
	MaxElements = zone.MaxItems
)

// Load reads an .rzone and an .azone file and imports them.
func Load(rzonePath, azonePath string) (*zone.Project, error) {
	r, err := readLimited(rzonePath)
	if err != nil {
		return nil, err
	}
	a, err := readLimited(azonePath)
	if err != nil {
		return nil, err
	}
	return Import(r, rzonePath, a, azonePath)
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cmsis: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cmsis: %s: %w", path, err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("cmsis: %s: larger than %d bytes: %w", path, MaxFileSize, zone.ErrTooLarge)
	}
	return b, nil
}

func decode(data []byte, file, root string, v any) error {
	if len(data) > MaxFileSize {
		return fmt.Errorf("cmsis: %s: larger than %d bytes: %w", file, MaxFileSize, zone.ErrTooLarge)
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	dec.Entity = nil
	// Find the root element and check its name before decoding.
	for {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("cmsis: %s: no <%s> element: %v: %w", file, root, err, ErrFormat)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != root {
				return fmt.Errorf("cmsis: %s: root element is <%s>, want <%s>: %w", file, se.Name.Local, root, ErrFormat)
			}
			if err := dec.DecodeElement(v, &se); err != nil {
				var se *xml.SyntaxError
				if errors.As(err, &se) {
					return fmt.Errorf("cmsis: %s:%d: %s: %w", file, se.Line, se.Msg, ErrFormat)
				}
				return fmt.Errorf("cmsis: %s: %v: %w", file, err, ErrFormat)
			}
			break
		}
	}
	// Nothing but whitespace, comments or processing instructions may follow.
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cmsis: %s: after <%s>: %v: %w", file, root, err, ErrFormat)
		}
		if _, ok := tok.(xml.StartElement); ok {
			return fmt.Errorf("cmsis: %s: a second element after <%s>: %w", file, root, ErrFormat)
		}
	}
}

func num(file, where, attr, v string) (uint64, error) {
	n, err := zone.ParseNumber(v)
	if err != nil {
		return 0, fmt.Errorf("cmsis: %s: %s %s=%q: not a number: %w", file, where, attr, v, ErrFormat)
	}
	return n, nil
}

func optNum(file, where, attr, v string) (uint64, bool, error) {
	if strings.TrimSpace(v) == "" {
		return 0, false, nil
	}
	n, err := num(file, where, attr, v)
	return n, err == nil, err
}

func security(file, where, v string) (zone.Security, error) {
	s, err := zone.ParseSecurity(v)
	if err != nil || (v != "" && len(v) > 1) {
		return zone.Unset, fmt.Errorf("cmsis: %s: %s security=%q (want s, n, c or empty): %w", file, where, v, ErrFormat)
	}
	return s, nil
}

func boolAttr(v string) bool { return v == "1" || strings.EqualFold(v, "true") }

// Import converts an .rzone and an .azone document (named rfile and afile in
// errors) into a project. Peripherals that no zone lists stay Secure, as on
// the hardware after reset (Project.UnassignedSecure).
func Import(rdata []byte, rfile string, adata []byte, afile string) (*zone.Project, error) {
	var r xRzone
	if err := decode(rdata, rfile, "rzone", &r); err != nil {
		return nil, err
	}
	var a xAzone
	if err := decode(adata, afile, "azone", &a); err != nil {
		return nil, err
	}
	if n := len(r.Resources.Memories) + len(r.Resources.MPCs) + len(r.Resources.SAU) + len(r.Resources.Peripherals) + len(r.Resources.Groups); n > MaxElements {
		return nil, fmt.Errorf("cmsis: %s: %d resources, limit %d: %w", rfile, n, MaxElements, zone.ErrTooLarge)
	}
	if n := len(a.Memories) + len(a.Zones); n > MaxElements {
		return nil, fmt.Errorf("cmsis: %s: %d partitions and zones, limit %d: %w", afile, n, MaxElements, zone.ErrTooLarge)
	}
	imp := &importer{r: &r, a: &a, rfile: rfile, afile: afile}
	return imp.run()
}
