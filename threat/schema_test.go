package threat

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatalf("schema.json is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("schema.json")
	if err != nil {
		t.Fatalf("schema.json does not compile: %v", err)
	}
	return s
}

// yamlToJSONValue converts YAML text to the value jsonschema validates.
func yamlToJSONValue(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTemplatesValidateAgainstSchema(t *testing.T) {
	s := compileSchema(t)
	for _, name := range Templates() {
		data, _ := Template(name)
		if err := s.Validate(yamlToJSONValue(t, data)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestSchemaRejectsWhatTheLoaderRejects(t *testing.T) {
	s := compileSchema(t)
	base, _ := Template(DefaultTemplate)
	for _, c := range []struct{ name, from, to string }{
		{"unknown field", "title: Smart water meter", "title: Smart water meter\ncolour: blue"},
		{"bad status", "status: accepted", "status: ignored"},
		{"bad need", "needs: {confidentiality: low, integrity: high, authenticity: high}", "needs: {confidentiality: low, integrity: huge, authenticity: high}"},
		{"bad psa id", "psa: [R7.1]", "psa: [R9.9]"},
	} {
		bad := strings.Replace(string(base), c.from, c.to, 1)
		if bad == string(base) {
			t.Fatalf("%s: substitution did not apply", c.name)
		}
		if err := s.Validate(yamlToJSONValue(t, []byte(bad))); err == nil {
			t.Errorf("%s: schema accepted it", c.name)
		}
		if m, err := Parse("x.yaml", []byte(bad)); err == nil && Errors(Check(m)) == 0 {
			t.Errorf("%s: loader and check accepted it", c.name)
		}
	}
}

// TestSchemaMatchesModel keeps the schema's field names in step with the
// Go structs' yaml tags.
func TestSchemaMatchesModel(t *testing.T) {
	var schema map[string]any
	if err := json.Unmarshal(Schema(), &schema); err != nil {
		t.Fatal(err)
	}
	props := func(m map[string]any) []string {
		var ks []string
		for k := range m["properties"].(map[string]any) {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	}
	tags := func(v any) []string {
		var ks []string
		rt := reflect.TypeOf(v)
		for i := 0; i < rt.NumField(); i++ {
			if tag := rt.Field(i).Tag.Get("yaml"); tag != "" && tag != "-" {
				ks = append(ks, tag)
			}
		}
		sort.Strings(ks)
		return ks
	}
	top := schema["properties"].(map[string]any)
	item := func(name string) map[string]any { return top[name].(map[string]any)["items"].(map[string]any) }
	for _, c := range []struct {
		name   string
		schema map[string]any
		model  any
	}{
		{"model", schema, Model{}},
		{"toe", top["toe"].(map[string]any), TOE{}},
		{"trust_boundaries", item("trust_boundaries"), Boundary{}},
		{"components", item("components"), Component{}},
		{"data_flows", item("data_flows"), Flow{}},
		{"assets", item("assets"), Asset{}},
		{"threat_agents", item("threat_agents"), Agent{}},
		{"attack_surfaces", item("attack_surfaces"), Surface{}},
		{"threats", item("threats"), Threat{}},
		{"objectives", item("objectives"), Objective{}},
		{"requirements", item("requirements"), Requirement{}},
	} {
		if got, want := props(c.schema), tags(c.model); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: schema properties %v, model fields %v", c.name, got, want)
		}
	}
}
