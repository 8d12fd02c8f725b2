// Package yamlerr decodes Rampart's configuration and data files (YAML, and
// JSON read through the same path) with errors in one style for all of them:
//
//	file:line:column: field.path: message (known fields: a, b, c)
//
// the style `rampart threat check` set. Before decoding it walks the parsed
// document against the Go type, so an unknown field (a typo), a value of the
// wrong kind or a custom field's own error is reported at its line and
// column with the path of the field, and every problem of the file in one
// run, instead of the decoder's "field x not found in type pkg.T".
//
// It only reads bytes it is given: it never opens files, and it never
// decides what a valid value is beyond the Go type (each loader validates
// meanings itself, and may report those through [Problem] too).
package yamlerr

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// ErrInvalid is matched (errors.Is) by every *Error: the file was read and
// its content is not valid.
var ErrInvalid = errors.New("invalid file")

// MaxProblems bounds how many problems one decode reports.
const MaxProblems = 50

// Problem is one error located in a file.
type Problem struct {
	File   string
	Line   int // 1-based; 0 when unknown
	Column int // 1-based; 0 when unknown
	// Field is the path of the offending value, e.g. "images[0].primary.size".
	Field string
	Msg   string
}

// String formats the problem as file:line:column: field: message.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		if p.File != "" {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(p.Line))
		if p.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Column))
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is every problem found in one file, sorted by position.
type Error struct {
	Problems []Problem
}

// Error is every problem, one per line.
func (e *Error) Error() string {
	if len(e.Problems) == 0 {
		return "invalid file"
	}
	return strings.TrimSuffix(e.Format(), "\n")
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Format writes every problem, one per line.
func (e *Error) Format() string {
	var b strings.Builder
	for _, p := range e.Problems {
		b.WriteString(p.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// At returns the problem of node n of file: a loader's own validation
// reported in the same style.
func At(file string, n *yaml.Node, field, format string, args ...any) Problem {
	p := Problem{File: file, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	return p
}

// DecodeYAML decodes the YAML document data (named file in errors) into v,
// a pointer to a struct with yaml tags, rejecting unknown fields, wrong
// kinds, anchors' surprises (duplicate keys) and a second document.
func DecodeYAML(file string, data []byte, v any) error {
	doc, err := parse(file, data)
	if err != nil {
		return err
	}
	d := &walker{file: file, tag: "yaml"}
	d.walk(doc, reflect.TypeOf(v), "")
	if err := d.err(); err != nil {
		return err
	}
	if err := doc.Decode(v); err != nil {
		return &Error{Problems: []Problem{syntaxProblem(file, data, err)}}
	}
	return nil
}

// DecodeJSON decodes the JSON object data (named file in errors) into v,
// a pointer to a struct with json tags, with encoding/json's meaning
// (its field matching, its custom unmarshalers) and this package's errors.
func DecodeJSON(file string, data []byte, v any) error {
	// JSON is YAML's flow style: parse it as YAML for positions.
	if doc, err := parse(file, data); err == nil {
		d := &walker{file: file, tag: "json"}
		d.walk(doc, reflect.TypeOf(v), "")
		if err := d.err(); err != nil {
			return err
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &Error{Problems: []Problem{jsonProblem(file, data, err)}}
	}
	if dec.More() {
		off := dec.InputOffset()
		line, col := lineCol(data, off)
		return &Error{Problems: []Problem{{File: file, Line: line, Column: col, Msg: "data after the JSON object"}}}
	}
	return nil
}

func parse(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{Problems: []Problem{{File: file, Line: 1, Msg: "empty file"}}}
		}
		return nil, &Error{Problems: []Problem{syntaxProblem(file, data, err)}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Error{Problems: []Problem{{File: file, Line: extra.Line, Column: extra.Column, Msg: "more than one YAML document in the file"}}}
	} else if !errors.Is(err, io.EOF) {
		return nil, &Error{Problems: []Problem{syntaxProblem(file, data, err)}}
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0], nil
	}
	return &doc, nil
}

var yamlLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`line (\d+): `) })

// syntaxProblem locates one of yaml.v3's errors, which give a line only.
func syntaxProblem(file string, data []byte, err error) Problem {
	lines := bytes.Count(bytes.TrimRight(data, "\n"), []byte("\n")) + 1
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	msg = strings.TrimSpace(msg)
	p := Problem{File: file}
	if m := yamlLine().FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		msg = strings.TrimSpace(strings.Replace(msg, m[0], "", 1))
		// yaml.v3 reports an unclosed flow collection at its opening line
		// counted from 0 (the parser's context mark); make it 1-based.
		if strings.HasPrefix(msg, "did not find expected ',' or") {
			if p.Line < lines {
				p.Line++
			}
			msg += " (in the [...] or {...} that starts on this line)"
		}
	}
	p.Msg = "malformed YAML: " + msg
	return p
}

func jsonProblem(file string, data []byte, err error) Problem {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	p := Problem{File: file, Msg: strings.TrimPrefix(err.Error(), "json: ")}
	switch {
	case errors.As(err, &se):
		p.Line, p.Column = lineCol(data, se.Offset-1) // Offset is just past the offending byte
		p.Msg = "malformed JSON: " + p.Msg
	case errors.As(err, &te):
		p.Line, p.Column = lineCol(data, te.Offset)
		p.Field = te.Field
		p.Msg = fmt.Sprintf("want %s, got a JSON %s", want(te.Type), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		p.Line, p.Column = lineCol(data, int64(len(data)))
		p.Msg = "malformed JSON: the file ends inside a value"
	}
	return p
}

// lineCol converts a byte offset into a 1-based line and column.
func lineCol(data []byte, off int64) (int, int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

type walker struct {
	file     string
	tag      string // "yaml" or "json": the struct tags that name fields
	problems []Problem
}

func (d *walker) addf(n *yaml.Node, field, format string, args ...any) {
	if len(d.problems) < MaxProblems {
		d.problems = append(d.problems, At(d.file, n, field, format, args...))
	}
}

func (d *walker) err() error {
	if len(d.problems) == 0 {
		return nil
	}
	Sort(d.problems)
	return &Error{Problems: d.problems}
}

// Sort orders problems by their position in the file (line, then column;
// those without a position first), keeping the order of equal ones: a
// loader that validates section by section reports in reading order.
func Sort(problems []Problem) {
	sort.SliceStable(problems, func(i, j int) bool {
		a, b := problems[i], problems[j]
		return a.Line < b.Line || (a.Line == b.Line && a.Column < b.Column)
	})
}

var (
	yamlUnmarshaler = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	jsonUnmarshaler = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()
	textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

// custom reports whether t decodes itself.
func (d *walker) custom(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	if d.tag == "json" {
		return p.Implements(jsonUnmarshaler) || p.Implements(textUnmarshaler)
	}
	return p.Implements(yamlUnmarshaler) || p.Implements(textUnmarshaler)
}

func (d *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
		if n == nil {
			return
		}
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // absent value: the zero value
	}
	if d.custom(t) {
		d.leaf(n, t, path)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.walkStruct(n, t, path)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && n.Kind == yaml.ScalarNode {
			d.leaf(n, t, path)
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.addf(n, path, "want a list, got %s", describe(n))
			return
		}
		for i, c := range n.Content {
			d.walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.addf(n, path, "want a mapping, got %s", describe(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			d.walk(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value))
		}
	case reflect.Interface:
		// any value
	default:
		d.leaf(n, t, path)
	}
}

// leaf decodes a scalar (or a custom type) alone to find its error at its
// own position.
func (d *walker) leaf(n *yaml.Node, t reflect.Type, path string) {
	if d.tag == "json" {
		if d.custom(t) {
			return // its UnmarshalJSON decides
		}
		if n.Kind != yaml.ScalarNode || !jsonKindFits(t, n.ShortTag()) {
			d.addf(n, path, "want %s, got %s", want(t), describe(n))
		}
		return // encoding/json decides the rest (ranges), its errors carry offsets
	}
	if !d.custom(t) && n.Kind != yaml.ScalarNode {
		d.addf(n, path, "want %s, got %s", want(t), describe(n))
		return
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		var te *yaml.TypeError
		if errors.As(err, &te) && !d.custom(t) {
			msg = fmt.Sprintf("want %s, got %s", want(t), describe(n))
		} else if m := yamlLine().FindStringSubmatch(msg); m != nil {
			msg = strings.TrimSpace(strings.Replace(strings.TrimPrefix(msg, "unmarshal errors:\n"), m[0], "", 1))
		}
		d.addf(n, path, "%s", msg)
	}
}

// jsonKindFits reports whether a JSON scalar (as YAML resolved it) can
// fill a value of type t, as encoding/json would decide.
func jsonKindFits(t reflect.Type, tag string) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return tag == "!!int"
	case reflect.Float32, reflect.Float64:
		return tag == "!!int" || tag == "!!float"
	case reflect.Bool:
		return tag == "!!bool"
	case reflect.String:
		return tag == "!!str"
	}
	return true
}

// field is one decodable field of a struct: its name in the file and type.
type field struct {
	name string
	t    reflect.Type
}

func (d *walker) fields(t reflect.Type, out map[string]field, known *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get(d.tag), ",")
		if tag == "-" && opts == "" {
			continue
		}
		inline := strings.Contains(","+opts+",", ",inline,") || (d.tag == "json" && f.Anonymous && tag == "")
		if inline {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				d.fields(ft, out, known)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if tag == "" {
			tag = f.Name
			if d.tag == "yaml" {
				tag = strings.ToLower(f.Name)
			}
		}
		key := tag
		if d.tag == "json" {
			key = strings.ToLower(tag) // encoding/json matches names case-insensitively
		}
		out[key] = field{tag, f.Type}
		*known = append(*known, tag)
	}
}

func (d *walker) walkStruct(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		d.addf(n, path, "want a mapping of fields, got %s", describe(n))
		return
	}
	fields := map[string]field{}
	var known []string
	d.fields(t, fields, &known)
	sort.Strings(known)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.addf(k, path, "want a field name, got %s", describe(k))
			continue
		}
		key := k.Value
		if d.tag == "json" {
			key = strings.ToLower(key)
		}
		f, ok := fields[key]
		if !ok {
			d.addf(k, join(path, k.Value), "unknown field %q (known fields: %s)", clip(k.Value), strings.Join(known, ", "))
			continue
		}
		if seen[key] {
			d.addf(k, join(path, k.Value), "field %q given twice", k.Value)
			continue
		}
		seen[key] = true
		d.walk(v, f.t, join(path, f.name))
	}
}

// want names what a Go type accepts, in words.
func want(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return "a " + t.String()
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.ShortTag() {
	case "!!str":
		return fmt.Sprintf("the string %q", clip(n.Value))
	case "!!int":
		return "the integer " + clip(n.Value)
	case "!!float":
		return "the number " + clip(n.Value)
	case "!!bool":
		return "the boolean " + n.Value
	case "!!null":
		return "null"
	}
	return fmt.Sprintf("%s %q", n.ShortTag(), clip(n.Value))
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Mark returns err, unchanged in its message, that also matches sentinel
// (errors.Is): a loader's own "invalid configuration" error.
func Mark(err, sentinel error) error {
	if err == nil {
		return nil
	}
	return &marked{err, sentinel}
}

type marked struct{ err, sentinel error }

func (m *marked) Error() string   { return m.err.Error() }
func (m *marked) Unwrap() []error { return []error{m.err, m.sentinel} }
