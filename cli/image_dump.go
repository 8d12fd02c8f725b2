package cli

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"rampart/image"
)

// imageDumpInfo holds the fields of imgtool dumpinfo, in its order.
type imageDumpInfo struct {
	Filename string
	Header   image.Header
	Prot     *image.TLVArea
	Unprot   *image.TLVArea
	Trailer  *image.Trailer // nil when nothing follows the TLV area
	KeyField int            // key_field_len when encrypted, else 0
}

func newImageDumpCmd(env *Env) *cobra.Command {
	var format, outFile string
	var asJSON, asYAML bool
	cmd := &cobra.Command{
		Use:     "dump [--json|--yaml] IMAGE",
		Aliases: []string{"dumpinfo"},
		Short:   "Print an image's header, TLV areas and trailer (imgtool dumpinfo)",
		Long: `Print the fields imgtool dumpinfo prints: the header, the protected and unprotected
TLV areas entry by entry, and, when bytes follow the TLV area, the trailer (magic,
image_ok, copy_done, swap_info, swap_size). --json and --yaml use dumpinfo's keys
(TLV data as hex in JSON, as !!binary in YAML). Dump checks the structure only;
use verify to check the hash and signature.`,
		Example: `  rampart image dump app.signed.bin
  rampart image dump --json app.signed.bin
  rampart image dump -f yaml -o info.yaml app.signed.bin`,
		Args: exactArgs(1, "one IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON && asYAML {
				return usageError("use only one of --json and --yaml")
			}
			switch {
			case asJSON:
				format = "json"
			case asYAML:
				format = "yaml"
			case format == "" && outFile != "":
				format = "yaml"
			case format == "":
				format = "human"
			}
			if format != "human" && format != "json" && format != "yaml" {
				return usageError("-f/--format %q: want human, yaml or json", format)
			}
			data, _, _, err := imageReadImage(args[0], "image")
			if err != nil {
				return err
			}
			img, err := image.Parse(data)
			if err != nil {
				return imageFailure(err)
			}
			info := imageDumpInfo{Filename: filepath.Base(args[0]), Header: img.Header, Prot: img.Protected, Unprot: img.Unprotected}
			if len(img.Tail()) > 0 {
				t, err := image.ParseTrailer(data)
				if err != nil {
					return imageFailure(err)
				}
				info.Trailer = t
				if t.MagicValid && img.Header.Flags.Encrypted() {
					info.KeyField = 2 * ((16 + t.MaxAlign - 1) &^ (t.MaxAlign - 1))
				}
			}
			w, closeFn, err := imageOutput(env, outFile)
			if err != nil {
				return err
			}
			switch format {
			case "json":
				b, _ := json.MarshalIndent(info.jsonValue(), "", "  ")
				fmt.Fprintln(w, string(b))
			case "yaml":
				enc := yaml.NewEncoder(w)
				enc.SetIndent(2)
				enc.CompactSeqIndent()
				if err := enc.Encode(info.yamlNode()); err != nil {
					closeFn()
					return fail(ExitError, err, "")
				}
				enc.Close()
			default:
				info.human(w)
			}
			return closeFn()
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "human, yaml or json (default human; yaml with -o)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	cmd.Flags().BoolVar(&asYAML, "yaml", false, "print as YAML")
	cmd.Flags().StringVarP(&outFile, "outfile", "o", "", "write to this file")
	cmd.Flags().BoolP("silent", "s", false, "accepted for imgtool compatibility; ignored (as by imgtool)")
	return cmd
}

// orderedMap is a JSON object that keeps its keys in insertion order.
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

// fields returns the dumpinfo tree; bytes values stay []byte so that each
// format encodes them its own way.
func (d *imageDumpInfo) fields() orderedMap {
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
	tlvs := func(a *image.TLVArea) []any {
		out := []any{}
		if a == nil {
			return out
		}
		for _, t := range a.TLVs {
			var e orderedMap
			e.set("type", t.Type)
			e.set("type_name", image.TLVName(t.Type))
			e.set("len", len(t.Value))
			e.set("data", t.Value)
			out = append(out, e)
		}
		return out
	}
	info := func(a *image.TLVArea) orderedMap {
		m := orderedMap{}
		if a != nil {
			m.set("magic", a.Magic)
			m.set("tlv_tot", a.TLVTot)
		}
		return m
	}
	area.set("tlv_hdr_prot", info(d.Prot))
	area.set("tlvs_prot", tlvs(d.Prot))
	area.set("tlv_hdr", info(d.Unprot))
	area.set("tlvs", tlvs(d.Unprot))
	top.set("tlv_area", area)
	tr := orderedMap{}
	if t := d.Trailer; t != nil {
		tr.set("magic", t.Magic)
		if t.MagicValid {
			tr.set("image_ok", t.ImageOK)
			tr.set("copy_done", t.CopyDone)
			tr.set("swap_info", t.SwapInfo)
			tr.set("swap_size", t.SwapSize)
			if d.KeyField != 0 {
				tr.set("key_field_len", d.KeyField)
			}
		}
	}
	top.set("trailer", tr)
	return top
}

func (d *imageDumpInfo) jsonValue() any { return hexBytes(d.fields()) }

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

func (d *imageDumpInfo) yamlNode() *yaml.Node { return yamlOf(d.fields()) }

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

const imageLineLength = 60

func imageRow(s string) string {
	s = "#### " + s + " "
	return s + strings.Repeat("#", max(0, imageLineLength-len(s)))
}

// human prints dumpinfo's human-readable layout.
func (d *imageDumpInfo) human(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	hx := func(v uint64) string { return "0x" + strconv.FormatUint(v, 16) }
	p("Printing content of signed image: %s \n\n", d.Filename)
	p("%s\n", imageRow("Image header (offset: 0x0)"))
	h := d.Header
	flags := hx(uint64(h.Flags))
	if h.Flags != 0 {
		var parts []string
		for _, n := range h.Flags.Names() {
			parts = append(parts, n+" ("+imageFlagHex(n)+")")
		}
		flags = strings.Join(parts, "\n"+strings.Repeat(" ", 20))
	}
	for _, kv := range [][2]string{{"magic", hx(uint64(h.Magic))}, {"load_addr", hx(uint64(h.LoadAddr))},
		{"hdr_size", hx(uint64(h.HdrSize))}, {"protected_tlv_size", hx(uint64(h.ProtectTLVSize))},
		{"img_size", hx(uint64(h.ImgSize))}, {"flags", flags}, {"version", h.Ver.String()}} {
		p("%s:%s%s\n", kv[0], strings.Repeat(" ", 19-len(kv[0])), kv[1])
	}
	p("%s\n", strings.Repeat("#", imageLineLength))
	off := uint64(h.HdrSize)
	p("%s\n", imageFrame("Payload (offset: "+hx(off)+")", "FW image (size: "+hx(uint64(h.ImgSize))+" Bytes)"))
	off += uint64(h.ImgSize)
	area := func(title string, a *image.TLVArea) {
		p("%s\n", imageRow(title+" (offset: "+hx(off)+")"))
		p("magic:     %s\n", hx(uint64(a.Magic)))
		p("area size: %s\n", hx(uint64(a.TLVTot)))
		ind := strings.Repeat(" ", imageLineLength/8)
		for _, t := range a.TLVs {
			p("%s %s\n", ind, strings.Repeat("-", 45))
			p("%s type: %s (%s)\n", ind, image.TLVName(t.Type), hx(uint64(t.Type)))
			p("%s len:  %s\n", ind, hx(uint64(len(t.Value))))
			line := ind + " data: "
			for j, c := range t.Value {
				line += fmt.Sprintf("0x%02x ", c)
				if (j+1)%8 == 0 && j+1 != len(t.Value) {
					p("%s\n", line)
					line = strings.Repeat(" ", len(ind)+7)
				}
			}
			p("%s\n", line)
		}
		p("%s\n", strings.Repeat("#", imageLineLength))
	}
	if d.Prot != nil {
		area("Protected TLV area", d.Prot)
		off += uint64(h.ProtectTLVSize)
	}
	area("TLV area", d.Unprot)
	if t := d.Trailer; t != nil {
		p("%s\n", imageRow("Image trailer (offset: unknown)"))
		p("(Note: some fields may not be used, depending on the update \nstrategy)\n\n")
		p("swap status: (len: unknown)\n")
		if d.KeyField != 0 {
			p("enc. keys:   (len: %s, if BOOT_SWAP_SAVE_ENCTLV is unset)\n", hx(uint64(d.KeyField)))
		} else {
			p("enc. keys:   Image not encrypted\n")
		}
		if !t.MagicValid {
			p("Warning: the trailer magic value is invalid!\n")
		} else {
			size := "unknown"
			if t.SwapSize != 0xffffffff {
				size = hx(uint64(t.SwapSize)) + " octal: " + strconv.FormatUint(uint64(t.SwapSize), 10)
			}
			p("swap size:   %s\n", size)
			p("swap_info:   %s\n", imageStatus(t.SwapInfo))
			p("copy_done:   %s\n", imageStatus(t.CopyDone))
			p("image_ok:    %s\n", imageStatus(t.ImageOK))
		}
		var m strings.Builder
		for i, c := range t.Magic {
			fmt.Fprintf(&m, "0x%02x ", c)
			if i == image.BootMagicSize/2-1 {
				m.WriteString("\n             ")
			}
		}
		p("boot magic:  %s\n\n", m.String())
	}
	p("%s\n", imageRow("End of Image "))
}

func imageFlagHex(name string) string {
	for f := image.Flags(1); f != 0; f <<= 1 {
		if n := f.Names(); len(n) == 1 && n[0] == name {
			return "0x" + strconv.FormatUint(uint64(f), 16)
		}
	}
	return "?"
}

func imageStatus(b byte) string {
	names := map[byte]string{1: "SET", 2: "BAD", 3: "UNSET", 4: "ANY"}
	if n, ok := names[b]; ok {
		return fmt.Sprintf("%s (0x%x)", n, b)
	}
	return fmt.Sprintf("INVALID (0x%x)", b)
}

func imageFrame(header, content string) string {
	hd := "#### " + header + " "
	lines := []string{hd + strings.Repeat("#", imageLineLength-len(hd))}
	blank := "|" + strings.Repeat(" ", imageLineLength-2) + "|"
	lines = append(lines, blank)
	offset := (imageLineLength - len(content)) / 2
	pre := "|" + strings.Repeat(" ", offset-1)
	post := strings.Repeat(" ", imageLineLength-len(pre)-len(content)-1) + "|"
	lines = append(lines, pre+content+post, blank, strings.Repeat("#", imageLineLength))
	return strings.Join(lines, "\n")
}
