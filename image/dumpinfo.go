package image

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DumpFormat is an output format of imgtool dumpinfo.
type DumpFormat int

// The formats of [DumpInfo.Write].
const (
	DumpText DumpFormat = iota // dumpinfo's human-readable layout
	DumpYAML                   // dumpinfo -f yaml: TLV data as !!binary
	DumpJSON                   // dumpinfo -f json: TLV data as hex
)

// DumpInfo holds the fields imgtool dumpinfo prints about an image file.
type DumpInfo struct {
	Filename    string // as printed: imgtool prints the name it was given
	Header      Header
	Protected   *TLVArea // nil when the image has none
	Unprotected *TLVArea
	Trailer     *Trailer // nil when nothing follows the TLV area
	KeyFieldLen int      // the trailer's encryption key field when the image is encrypted, else 0
}

// NewDumpInfo parses an image file (the image and, when bytes follow its
// TLV area, the slot trailer at the end of data). It checks the structure
// only, as dumpinfo does: not the hash, not a signature.
func NewDumpInfo(filename string, data []byte) (*DumpInfo, error) {
	img, err := Parse(data)
	if err != nil {
		return nil, err
	}
	d := &DumpInfo{Filename: filename, Header: img.Header, Protected: img.Protected, Unprotected: img.Unprotected}
	if len(img.Tail()) == 0 {
		return d, nil
	}
	if d.Trailer, err = ParseTrailer(data); err != nil {
		return nil, err
	}
	if d.Trailer.MagicValid && img.Header.Flags.Encrypted() {
		d.KeyFieldLen = 2 * alignUp(16, d.Trailer.MaxAlign)
	}
	return d, nil
}

// Write prints d as imgtool dumpinfo does in format f, byte for byte for
// DumpText and DumpYAML.
func (d *DumpInfo) Write(w io.Writer, f DumpFormat) error {
	var err error
	switch f {
	case DumpText:
		err = d.writeText(w)
	case DumpYAML:
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		enc.CompactSeqIndent()
		if err = enc.Encode(yamlOf(d.fields())); err == nil {
			err = enc.Close()
		}
	case DumpJSON:
		b, _ := json.MarshalIndent(hexBytes(d.fields()), "", "  ")
		_, err = fmt.Fprintln(w, string(b))
	default:
		return argErr("format", "%d is not a dumpinfo format", f)
	}
	if err != nil {
		return fmt.Errorf("image: writing dumpinfo: %w", err)
	}
	return nil
}

// fields returns the dumpinfo tree, in dumpinfo's key order; bytes stay
// []byte so that each format encodes them its own way.
func (d *DumpInfo) fields() orderedMap {
	var top, hdr, area orderedMap
	top.set("filename", d.Filename)
	h := d.Header
	hdr.set("magic", h.Magic)
	hdr.set("load_addr", h.LoadAddr)
	hdr.set("hdr_size", h.HdrSize)
	hdr.set("protected_tlv_size", h.ProtectTLVSize)
	hdr.set("img_size", h.ImgSize)
	hdr.set("flags", uint32(h.Flags))
	hdr.set("version", h.Ver.String())
	top.set("header", hdr)
	area.set("tlv_hdr_prot", dumpAreaInfo(d.Protected))
	area.set("tlvs_prot", dumpTLVs(d.Protected))
	area.set("tlv_hdr", dumpAreaInfo(d.Unprotected))
	area.set("tlvs", dumpTLVs(d.Unprotected))
	top.set("tlv_area", area)
	top.set("trailer", d.trailerFields())
	return top
}

func dumpAreaInfo(a *TLVArea) orderedMap {
	m := orderedMap{}
	if a != nil {
		m.set("magic", a.Magic)
		m.set("tlv_tot", a.TLVTot)
	}
	return m
}

func dumpTLVs(a *TLVArea) []any {
	out := []any{}
	if a == nil {
		return out
	}
	for _, t := range a.TLVs {
		var e orderedMap
		e.set("type", t.Type)
		e.set("type_name", TLVName(t.Type))
		e.set("len", len(t.Value))
		e.set("data", t.Value)
		out = append(out, e)
	}
	return out
}

func (d *DumpInfo) trailerFields() orderedMap {
	tr := orderedMap{}
	t := d.Trailer
	if t == nil {
		return tr
	}
	tr.set("magic", t.Magic)
	if t.MagicValid {
		tr.set("image_ok", t.ImageOK)
		tr.set("copy_done", t.CopyDone)
		tr.set("swap_info", t.SwapInfo)
		tr.set("swap_size", t.SwapSize)
		if d.KeyFieldLen != 0 {
			tr.set("key_field_len", d.KeyFieldLen)
		}
	}
	return tr
}

// orderedMap is a JSON object or YAML mapping that keeps its keys in
// insertion order, as dumpinfo's Python dicts do.
type orderedMap []struct {
	k string
	v any
}

func (m *orderedMap) set(k string, v any) {
	*m = append(*m, struct {
		k string
		v any
	}{k, v})
}

func (m orderedMap) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteString("{")
	for i, e := range m {
		if i > 0 {
			b.WriteString(",")
		}
		k, _ := json.Marshal(e.k)
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteString(":")
		b.Write(v)
	}
	b.WriteString("}")
	return []byte(b.String()), nil
}

// hexBytes replaces []byte by hex strings, as dumpinfo's JSON serializer does.
func hexBytes(v any) any {
	switch x := v.(type) {
	case []byte:
		return hex.EncodeToString(x)
	case orderedMap:
		out := orderedMap{}
		for _, e := range x {
			out.set(e.k, hexBytes(e.v))
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = hexBytes(x[i])
		}
		return out
	}
	return v
}

// yamlOf builds the YAML node of a dumpinfo tree as PyYAML writes it:
// empty mappings and sequences in flow style, bytes as !!binary base64
// in lines of 76 characters.
func yamlOf(v any) *yaml.Node {
	switch x := v.(type) {
	case orderedMap:
		n := &yaml.Node{Kind: yaml.MappingNode}
		if len(x) == 0 {
			n.Style = yaml.FlowStyle
		}
		for _, e := range x {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: e.k}, yamlOf(e.v))
		}
		return n
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		if len(x) == 0 {
			n.Style = yaml.FlowStyle
		}
		for _, e := range x {
			n.Content = append(n.Content, yamlOf(e))
		}
		return n
	case []byte:
		s := base64.StdEncoding.EncodeToString(x)
		var lines []string
		for len(s) > 76 {
			lines = append(lines, s[:76])
			s = s[76:]
		}
		lines = append(lines, s)
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!binary", Style: yaml.LiteralStyle, Value: strings.Join(lines, "\n") + "\n"}
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: x}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprint(v)}
}
