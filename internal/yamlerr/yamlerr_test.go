package yamlerr

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

type dur struct{ time.Duration }

func (d *dur) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

type inner struct {
	Size  int    `yaml:"size" json:"size"`
	Label string `yaml:"label" json:"label"`
}

type base struct {
	Offset int `yaml:"offset" json:"offset"`
}

type cfg struct {
	Name    string            `yaml:"name" json:"name"`
	Items   []inner           `yaml:"items" json:"items"`
	Tags    map[string]inner  `yaml:"tags" json:"tags"`
	Wait    dur               `yaml:"wait" json:"-"`
	On      bool              `yaml:"on" json:"on"`
	Ptr     *inner            `yaml:"ptr" json:"ptr"`
	Any     any               `yaml:"any" json:"any"`
	Strings map[string]string `yaml:"strings" json:"strings"`
	base    `yaml:",inline"`
	Base    base `yaml:"-" json:"base"`
}

func TestDecodeYAMLProblems(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"name: a\nnmae: b\n", `f.yaml:2:1: nmae: unknown field "nmae" (known fields: any, items, name, offset, on, ptr, strings, tags, wait)`},
		{"items:\n  - size: 1\n  - sise: 2\n", `f.yaml:3:5: items[1].sise: unknown field "sise" (known fields: label, size)`},
		{"items:\n  - size: big\n", `f.yaml:2:11: items[0].size: want an integer, got the string "big"`},
		{"tags:\n  a: {size: 1, colour: red}\n", `f.yaml:2:16: tags.a.colour: unknown field "colour"`},
		{"wait: soon\n", `f.yaml:1:7: wait: time: invalid duration "soon"`},
		{"on: maybe\n", `f.yaml:1:5: on: want true or false, got the string "maybe"`},
		{"items: 3\n", `f.yaml:1:8: items: want a list, got the integer 3`},
		{"ptr: {size: x}\n", `f.yaml:1:13: ptr.size: want an integer`},
		{"offset: z\n", `f.yaml:1:9: offset: want an integer`},
		{"name: [a\n", `f.yaml:1: malformed YAML:`},
		{"name: a\n---\nname: b\n", `f.yaml:2:1: more than one YAML document`},
		{"", `f.yaml:1: empty file`},
		{"strings: {a: [1]}\n", `f.yaml:1:14: strings.a: want a string, got a list`},
		{"name: a\nname: b\n", `f.yaml:2:1: name: field "name" given twice`},
	} {
		var v cfg
		err := DecodeYAML("f.yaml", []byte(c.text), &v)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v\n  want prefix %s", c.text, err, c.want)
		}
	}
	var v cfg
	if err := DecodeYAML("f.yaml", []byte("name: a\nitems: [{size: 0x10, label: x}]\nwait: 2s\noffset: 4\nany: [1, {b: 2}]\n"), &v); err != nil {
		t.Fatal(err)
	}
	if v.Name != "a" || v.Items[0].Size != 16 || v.Wait.Duration != 2*time.Second || v.Offset != 4 {
		t.Fatalf("decoded %+v", v)
	}
}

func TestDecodeYAMLReportsEveryProblem(t *testing.T) {
	var v cfg
	err := DecodeYAML("f.yaml", []byte("nmae: a\nitems:\n  - size: q\non: 3\n"), &v)
	var e *Error
	if !errors.As(err, &e) || len(e.Problems) != 3 || e.Problems[0].Line != 1 || e.Problems[2].Line != 4 {
		t.Fatalf("%v", err)
	}
	if strings.Count(err.Error(), "\n") != 2 || strings.Count(e.Format(), "\n") != 3 {
		t.Fatalf("%q / %q", err.Error(), e.Format())
	}
}

func TestDecodeJSONProblems(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"{\n  \"name\": \"a\",\n  \"nmae\": 1\n}", `f.json:3:3: nmae: unknown field "nmae" (known fields: any, base, items, name, offset, on, ptr, strings, tags)`},
		{"{\"items\": [{\"size\": \"big\"}]}", `f.json:1:21: items[0].size: want an integer, got the string "big"`},
		{"{\"items\": [{\"size\": 1.5}]}", `f.json:1:21: items[0].size: want an integer, got the number 1.5`},
		{"{\"name\": \"a\",}", `f.json:1:14: malformed JSON`},
		{"{\"name\": \"a\"} {}", `f.json:1:15: data after the JSON object`},
		{"{\"base\": {\"ofset\": 1}}", `f.json:1:11: base.ofset: unknown field`},
		{"{\"name\": ", `f.json:1:10: malformed JSON: the file ends inside a value`},
	} {
		var v cfg
		err := DecodeJSON("f.json", []byte(c.text), &v)
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v\n  want %s", c.text, err, c.want)
		}
	}
	// encoding/json's own meaning: names match case-insensitively, tabs are fine.
	var v cfg
	if err := DecodeJSON("f.json", []byte("{\n\t\"NAME\": \"a\",\n\t\"base\": {\"offset\": 2}\n}"), &v); err != nil || v.Name != "a" || v.Base.Offset != 2 {
		t.Fatalf("%+v %v", v, err)
	}
}

func TestMark(t *testing.T) {
	sentinel := errors.New("bad config")
	err := Mark(&Error{Problems: []Problem{{File: "f", Line: 2, Column: 3, Field: "a", Msg: "m"}}}, sentinel)
	if err.Error() != "f:2:3: a: m" || !errors.Is(err, sentinel) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("%v", err)
	}
	if Mark(nil, sentinel) != nil {
		t.Fatal("Mark(nil) is not nil")
	}
	if (Problem{Line: 4, Msg: "m"}).String() != "4: m" {
		t.Fatal((Problem{Line: 4, Msg: "m"}).String())
	}
}

// FuzzDecode: no input makes either decoder panic, and every error is an
// *Error whose first problem is located inside the input.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"name: a\nitems: [{size: 1}]\n", "{\"name\": \"a\", \"items\": [{\"size\": 1}]}", "tags: {a: {size: x}}", "wait: 1s", "&a [*a]", "{"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := strings.Count(string(data), "\n") + strings.Count(string(data), "\r") + 2 // YAML breaks lines at CR too
		for i, decode := range []func(string, []byte, any) error{DecodeYAML, DecodeJSON} {
			var v cfg
			err := decode("f", data, &v)
			if err == nil {
				continue
			}
			var e *Error
			if !errors.As(err, &e) || len(e.Problems) == 0 {
				t.Fatalf("decoder %d: %T %v", i, err, err)
			}
			if p := e.Problems[0]; p.Line > lines {
				t.Fatalf("decoder %d: line %s beyond the input's %d lines: %v", i, strconv.Itoa(p.Line), lines, err)
			}
		}
	})
}
