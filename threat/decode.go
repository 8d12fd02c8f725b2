package threat

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// MaxModelSize bounds the size of a model file; real models are a few tens
// of kilobytes.
const MaxModelSize = 4 << 20

// maxProblems bounds how many problems one load reports.
const maxProblems = 100

// Load reads and parses the model file at path. Content errors are returned
// as a *LoadError wrapping ErrInvalid; read errors are returned as they are.
func Load(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("threat: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxModelSize+1))
	if err != nil {
		return nil, fmt.Errorf("threat: reading %s: %w", path, err)
	}
	return Parse(path, data)
}

var yamlLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`line (\d+)`) })

// Parse decodes a model from data; name is used in error positions. It
// rejects unknown fields, wrong types, anchors and aliases, duplicate keys,
// more than one document and invalid CVSS vectors, and computes each
// threat's CVSS scores. Coverage and references are checked by [Check].
func Parse(name string, data []byte) (*Model, error) {
	d := &decoder{file: name}
	if len(data) > MaxModelSize {
		d.addf(Pos{}, "", "file is larger than %d bytes", MaxModelSize)
		return nil, d.err()
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.addf(Pos{Line: 1}, "", "empty file: a model starts with rampart_threat_model: %d", FormatVersion)
			return nil, d.err()
		}
		d.addSyntax(err)
		return nil, d.err()
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.addf(Pos{extra.Line, extra.Column}, "", "more than one YAML document in the file")
		return nil, d.err()
	} else if !errors.Is(err, io.EOF) {
		d.addSyntax(err)
		return nil, d.err()
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	m := &Model{File: name}
	d.decode(root, reflect.ValueOf(m).Elem(), "")
	if m.Format != FormatVersion && len(d.problems) == 0 {
		d.addf(m.Lines["rampart_threat_model"], "rampart_threat_model", "format version %d is not supported (want %d)", m.Format, FormatVersion)
	}
	for i := range m.Threats {
		t := &m.Threats[i]
		if t.CVSS == "" {
			continue
		}
		s, err := ParseCVSS(t.CVSS)
		if err != nil {
			d.addf(t.Lines["cvss"], fmt.Sprintf("threats[%d].cvss", i), "%v", err)
			continue
		}
		t.Score = s
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	return m, nil
}

type decoder struct {
	file     string
	problems []Problem
}

func (d *decoder) addf(p Pos, field, format string, args ...any) {
	if len(d.problems) >= maxProblems {
		return
	}
	d.problems = append(d.problems, Problem{File: d.file, Pos: p, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) addSyntax(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := Pos{}
	if m := yamlLine().FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		msg = strings.TrimSpace(strings.Replace(msg, m[0]+":", "", 1))
		// yaml.v3 reports an unclosed flow collection at its opening line
		// counted from 0 (the parser's context mark); make it 1-based.
		if strings.HasPrefix(msg, "did not find expected ',' or") {
			p.Line++
			msg += " (in the [...] or {...} that starts on this line)"
		}
	}
	d.addf(p, "", "malformed YAML: %s", msg)
}

func (d *decoder) err() error {
	if len(d.problems) == 0 {
		return nil
	}
	sort.SliceStable(d.problems, func(i, j int) bool {
		a, b := d.problems[i].Pos, d.problems[j].Pos
		return a.Line < b.Line || (a.Line == b.Line && a.Column < b.Column)
	})
	return &LoadError{Problems: d.problems}
}

var (
	refType = reflect.TypeOf(Ref{})
	posType = reflect.TypeOf(Pos{})
	mapType = reflect.TypeOf(map[string]Pos{})
)

func pos(n *yaml.Node) Pos { return Pos{Line: n.Line, Column: n.Column} }

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

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		d.addf(pos(n), path, "YAML anchors and aliases are not allowed in a model")
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // absent value: leave the zero value
	}
	if v.Type() == refType {
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
			d.addf(pos(n), path, "want an ID (a string), got %s", describe(n))
			return
		}
		v.Set(reflect.ValueOf(Ref{ID: n.Value, Pos: pos(n)}))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		e := reflect.New(v.Type().Elem())
		d.decode(n, e.Elem(), path)
		v.Set(e)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.addf(pos(n), path, "want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
			d.addf(pos(n), path, "want a string, got %s (quote it if it is meant as text)", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			d.addf(pos(n), path, "want an integer, got %s", describe(n))
			return
		}
		i, err := strconv.ParseInt(n.Value, 0, 32)
		if err != nil {
			d.addf(pos(n), path, "integer %q out of range", clip(n.Value))
			return
		}
		v.SetInt(i)
	default:
		panic("threat: decoder cannot fill " + v.Type().String())
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		what := "want a mapping"
		if path == "" {
			what = "a model is a mapping of fields"
		}
		d.addf(pos(n), path, "%s, got %s", what, describe(n))
		return
	}
	t := v.Type()
	fields := map[string]int{}
	var known []string
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("yaml")
		if tag == "" || tag == "-" {
			continue
		}
		fields[tag] = i
		known = append(known, tag)
	}
	if f := v.FieldByName("Pos"); f.IsValid() && f.Type() == posType {
		f.Set(reflect.ValueOf(pos(n)))
	}
	lines := map[string]Pos{}
	if f := v.FieldByName("Lines"); f.IsValid() && f.Type() == mapType {
		f.Set(reflect.ValueOf(lines))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			d.addf(pos(k), path, "want a field name, got %s", describe(k))
			continue
		}
		idx, ok := fields[k.Value]
		if !ok {
			sort.Strings(known)
			d.addf(pos(k), join(path, k.Value), "unknown field %q (known fields: %s)", clip(k.Value), strings.Join(known, ", "))
			continue
		}
		if _, dup := lines[k.Value]; dup {
			d.addf(pos(k), join(path, k.Value), "field %q given twice", k.Value)
			continue
		}
		lines[k.Value] = pos(val)
		d.decode(val, v.Field(idx), join(path, k.Value))
	}
}
