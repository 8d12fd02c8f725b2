package adminapi

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// The OpenAPI document is written by hand (its summaries, roles and error
// answers are prose no Go type carries) and checked here against the types:
// every component schema is the Go type of the same name, field for field.

// schemaTypes are the Go types of the document's component schemas.
var schemaTypes = map[string]reflect.Type{}

func init() {
	for _, v := range []any{Error{}, Device{}, Certificate{}, DeviceDetail{}, TransitionRequest{}, TransitionResult{},
		Endorsement{}, ImportResult{}, RefusedEndorsement{}, Release{}, AuditEntry{}, Point{},
		CampaignSpec{}, CampaignFilter{}, CampaignPhase{}, CampaignWindow{}, CampaignSummary{}, PhaseSummary{}, DeviceProgress{}, Node{},
		OwnerKey{}, VoucherImport{}, ExtendRequest{}, ExtendResult{}, ReleaseRequest{}, ReleaseResult{}, DeviceExport{}, RotateRequest{}, Rotation{}, RetiringKey{}} {
		t := reflect.TypeOf(v)
		schemaTypes[t.Name()] = t
	}
}

// notBodies are the exported struct types that are not a body on the wire.
var notBodies = map[string]string{
	"Client":         "the Go client",
	"StatusError":    "the client's error for a reply other than 2xx",
	"AuditQuery":     "query parameters, described as parameters",
	"TelemetryQuery": "query parameters, described as parameters",
	"Duration":       "a field type, text in JSON",
	"Transfer":       "the client's progress of a body in flight",
}

// schemasWithoutType are component schemas that describe no JSON value.
var schemasWithoutType = map[string]string{
	"SignedEndorsements": "a COSE_Sign1 request body, bytes",
	"Voucher":            "a CBOR request body, bytes",
}

// requestTypes are decoded by the server with unknown fields refused: their
// schemas must say additionalProperties: false.
var requestTypes = []string{"ExtendRequest", "ReleaseRequest", "RotateRequest", "TransitionRequest", "CampaignSpec", "CampaignFilter", "CampaignPhase", "CampaignWindow"}

// enums are the values of the enumerated string types.
var enums = map[reflect.Type][]string{
	reflect.TypeFor[DeviceState]():   strs(DeviceStates),
	reflect.TypeFor[CampaignState](): strs(CampaignStates),
	reflect.TypeFor[UpdateStatus]():  strs(UpdateStatuses),
}

// fieldEnums are the values of plain string fields the document enumerates.
var fieldEnums = map[string][]string{
	"AuditEntry.decision": {Allow, Deny},
	"Rotation.state":      {"", "staged", "active", "retired"},
	"RetiringKey.state":   {"retiring", "retired"},
}

func strs[T ~string](l []T) []string {
	out := make([]string, len(l))
	for i, v := range l {
		out[i] = string(v)
	}
	return out
}

type schema = map[string]any

func loadDoc(t *testing.T) (doc schema, components map[string]any) {
	t.Helper()
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	c, _ := doc["components"].(map[string]any)
	components, _ = c["schemas"].(map[string]any)
	if len(components) == 0 {
		t.Fatal("no component schemas")
	}
	return doc, components
}

// TestOpenAPIMatchesTypes: each component schema and its Go type have the
// same fields, each of the same JSON type (and format, encoding, enum); a
// required property is never one the type may omit; request bodies refuse
// unknown fields as the server does.
func TestOpenAPIMatchesTypes(t *testing.T) {
	_, components := loadDoc(t)
	for _, e := range checkComponents(components) {
		t.Error(e)
	}
}

// checkComponents compares every component schema with its Go type.
func checkComponents(components map[string]any) []string {
	c := &checker{components: components}
	for name := range components {
		if _, ok := schemasWithoutType[name]; ok {
			continue
		}
		if _, ok := schemaTypes[name]; !ok {
			c.errorf(name, "a schema without a Go type (add it to schemaTypes)")
		}
	}
	for name, typ := range schemaTypes {
		s, ok := components[name].(map[string]any)
		if !ok {
			c.errorf(name, "the Go type has no schema in the document")
			continue
		}
		c.compare(name, typ, s)
	}
	for _, name := range requestTypes {
		if s, _ := components[name].(map[string]any); s != nil && s["additionalProperties"] != false {
			c.errorf(name, "a request body: the server refuses unknown fields, the schema must say additionalProperties: false")
		}
	}
	return c.errs
}

// TestOpenAPICheckFindsMismatches: each kind of drift between the document
// and the types, planted in a copy of the document, is reported.
func TestOpenAPICheckFindsMismatches(t *testing.T) {
	prop := func(c map[string]any, schemaName, field string) schema {
		return c[schemaName].(map[string]any)["properties"].(map[string]any)[field].(map[string]any)
	}
	for name, plant := range map[string]func(c map[string]any){
		"property missing": func(c map[string]any) { delete(c["Device"].(map[string]any)["properties"].(map[string]any), "reason") },
		"property not in Go": func(c map[string]any) {
			c["Release"].(map[string]any)["properties"].(map[string]any)["url"] = map[string]any{"type": "string"}
		},
		"wrong JSON type":        func(c map[string]any) { prop(c, "AuditEntry", "id")["type"] = "string" },
		"integer for a number":   func(c map[string]any) { prop(c, "Point", "value")["type"] = "integer" },
		"time without format":    func(c map[string]any) { delete(prop(c, "Device", "created"), "format") },
		"bytes without encoding": func(c map[string]any) { delete(prop(c, "Release", "digest"), "contentEncoding") },
		"enum differs":           func(c map[string]any) { prop(c, "Device", "state")["enum"] = []any{"registered", "active"} },
		"map key enum differs": func(c map[string]any) {
			prop(c, "CampaignSummary", "counts")["propertyNames"] = map[string]any{"enum": []any{"queued"}}
		},
		"field enum differs": func(c map[string]any) { prop(c, "AuditEntry", "decision")["enum"] = []any{"allow"} },
		"array items wrong": func(c map[string]any) {
			prop(c, "ImportResult", "added")["items"] = map[string]any{"type": "integer"}
		},
		"ref to another type": func(c map[string]any) { prop(c, "CampaignSummary", "spec")["$ref"] = "#/components/schemas/Release" },
		"required but omitted": func(c map[string]any) {
			d := c["Device"].(map[string]any)
			d["required"] = append(d["required"].([]any), "enrolled")
		},
		"request open":   func(c map[string]any) { delete(c["CampaignPhase"].(map[string]any), "additionalProperties") },
		"schema missing": func(c map[string]any) { delete(c, "PhaseSummary") },
		"schema extra":   func(c map[string]any) { c["Firmware"] = map[string]any{"type": "object"} },
		"nested property": func(c map[string]any) {
			delete(c["DeviceDetail"].(map[string]any)["allOf"].([]any)[1].(map[string]any)["properties"].(map[string]any), "certificates")
		},
	} {
		_, components := loadDoc(t)
		if errs := checkComponents(components); len(errs) != 0 {
			t.Fatalf("the document itself: %v", errs)
		}
		plant(components)
		if errs := checkComponents(components); len(errs) == 0 {
			t.Errorf("%s: not found", name)
		} else {
			t.Logf("%s: %s", name, errs[0])
		}
	}
}

// TestOpenAPIRefsResolve: every $ref in the document names a component.
func TestOpenAPIRefsResolve(t *testing.T) {
	doc, _ := loadDoc(t)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if k == "$ref" {
					if _, err := resolve(doc, x.(string)); err != nil {
						t.Errorf("%s: %v", path, err)
					}
					continue
				}
				walk(path+"/"+k, x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s/%d", path, i), x)
			}
		}
	}
	walk("#", doc)
}

// TestEveryBodyTypeHasASchema: an exported struct type added to the package
// is a schema of the document or is listed in notBodies.
func TestEveryBodyTypeHasASchema(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		{
			for _, d := range f.Decls {
				g, ok := d.(*ast.GenDecl)
				if !ok || g.Tok != token.TYPE {
					continue
				}
				for _, sp := range g.Specs {
					ts := sp.(*ast.TypeSpec)
					if _, isStruct := ts.Type.(*ast.StructType); !isStruct || !ts.Name.IsExported() {
						continue
					}
					_, schema := schemaTypes[ts.Name.Name]
					_, other := notBodies[ts.Name.Name]
					if !schema && !other {
						t.Errorf("type %s: neither a schema of openapi.json (schemaTypes) nor listed in notBodies", ts.Name.Name)
					}
				}
			}
		}
	}
}

func resolve(doc schema, ref string) (schema, error) {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("$ref %q: not local", ref)
	}
	var v any = doc
	for _, k := range strings.Split(p, "/") {
		m, _ := v.(map[string]any)
		if v = m[k]; v == nil {
			return nil, fmt.Errorf("$ref %q: no %s", ref, k)
		}
	}
	s, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("$ref %q: not an object", ref)
	}
	return s, nil
}

type checker struct {
	components map[string]any
	errs       []string
}

func (c *checker) errorf(path, format string, args ...any) {
	c.errs = append(c.errs, path+": "+fmt.Sprintf(format, args...))
}

// jsonField is one field of a Go struct as encoding/json writes it.
type jsonField struct {
	name     string
	typ      reflect.Type
	omitted  bool // omitempty or omitzero: may be absent
	goName   string
	explicit bool // has a json tag naming it
}

// jsonFields lists t's fields as encoding/json sees them, embedded
// structs flattened.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, hasTag := f.Tag.Lookup("json")
		if tag == "-" {
			continue
		}
		if f.Anonymous && !hasTag && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		explicit := name != ""
		if name == "" {
			name = f.Name
		}
		omitted := slices.Contains(strings.Split(opts, ","), "omitempty") || slices.Contains(strings.Split(opts, ","), "omitzero")
		out = append(out, jsonField{name: name, typ: f.Type, omitted: omitted, goName: f.Name, explicit: explicit})
	}
	return out
}

// properties merges the properties and required names of s, following
// $ref and allOf.
func (c *checker) properties(path string, s schema) (props map[string]schema, required []string) {
	props = map[string]schema{}
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		r, _ := c.components[name].(map[string]any)
		if r == nil {
			c.errorf(path, "$ref %s: no such schema", ref)
			return props, nil
		}
		return c.properties(path, r)
	}
	for _, part := range list(s["allOf"]) {
		p, r := c.properties(path, part.(map[string]any))
		for k, v := range p {
			props[k] = v
		}
		required = append(required, r...)
	}
	if m, ok := s["properties"].(map[string]any); ok {
		for k, v := range m {
			props[k] = v.(map[string]any)
		}
	}
	for _, r := range list(s["required"]) {
		required = append(required, r.(string))
	}
	return props, required
}

func list(v any) []any { l, _ := v.([]any); return l }

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[Duration]()
	bytesType    = reflect.TypeFor[[]byte]()
)

// compare checks schema s against Go type t.
func (c *checker) compare(path string, t reflect.Type, s schema) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if ref, ok := s["$ref"].(string); ok && t.Kind() == reflect.Struct && t != timeType && t != durationType {
		if name := strings.TrimPrefix(ref, "#/components/schemas/"); name != t.Name() {
			c.errorf(path, "refers to schema %s, the Go type is %s", name, t.Name())
		}
		return // the component is compared on its own
	}
	switch {
	case t == timeType:
		c.wantType(path, s, "string")
		if s["format"] != "date-time" {
			c.errorf(path, "a time: want format date-time")
		}
	case t == durationType:
		c.wantType(path, s, "string")
	case t == bytesType:
		c.wantType(path, s, "string")
		if s["contentEncoding"] != "base64" {
			c.errorf(path, "bytes: want contentEncoding base64")
		}
	case t.Kind() == reflect.String:
		c.wantType(path, s, "string")
		c.compareEnum(path, t, s)
	case t.Kind() == reflect.Bool:
		c.wantType(path, s, "boolean")
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		c.wantType(path, s, "integer")
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		c.wantType(path, s, "number")
	case t.Kind() == reflect.Slice:
		c.wantType(path, s, "array")
		if items, ok := s["items"].(map[string]any); ok {
			c.compare(path+"[]", t.Elem(), items)
		} else {
			c.errorf(path, "an array without items")
		}
	case t.Kind() == reflect.Map:
		c.wantType(path, s, "object")
		if v, ok := s["additionalProperties"].(map[string]any); ok {
			c.compare(path+"{}", t.Elem(), v)
		} else {
			c.errorf(path, "a map: want additionalProperties with the value's schema")
		}
		if want, ok := enums[t.Key()]; ok {
			pn, _ := s["propertyNames"].(map[string]any)
			c.sameValues(path+" keys", want, list(pn["enum"]))
		}
	case t.Kind() == reflect.Struct:
		c.compareStruct(path, t, s)
	default:
		c.errorf(path, "Go type %s has no JSON type this test knows", t)
	}
}

func (c *checker) compareStruct(path string, t reflect.Type, s schema) {
	if _, hasAllOf := s["allOf"]; !hasAllOf {
		c.wantType(path, s, "object")
	}
	props, required := c.properties(path, s)
	fields := map[string]jsonField{}
	for _, f := range jsonFields(t) {
		if !f.explicit {
			c.errorf(path, "field %s has no json tag naming it", f.goName)
		}
		fields[f.name] = f
		p, ok := props[f.name]
		if !ok {
			c.errorf(path, "field %q (%s.%s) is not in the document", f.name, t.Name(), f.goName)
			continue
		}
		c.compare(t.Name()+"."+f.name, f.typ, p)
	}
	for name := range props {
		if _, ok := fields[name]; !ok {
			c.errorf(path, "property %q is not a field of %s", name, t.Name())
		}
	}
	for _, r := range required {
		if f, ok := fields[r]; ok && f.omitted {
			c.errorf(path, "property %q is required but %s.%s may be omitted (omitempty/omitzero)", r, t.Name(), f.goName)
		}
	}
}

// wantType checks the schema's type: want, or a list holding it (and
// "null", for a value that may be null).
func (c *checker) wantType(path string, s schema, want string) {
	switch v := s["type"].(type) {
	case string:
		if v == want {
			return
		}
	case []any:
		if slices.Contains(v, any(want)) {
			return
		}
	}
	c.errorf(path, "type %v, the Go type is a JSON %s", s["type"], want)
}

func (c *checker) compareEnum(path string, t reflect.Type, s schema) {
	want, ok := enums[t]
	if !ok {
		want, ok = fieldEnums[path]
	}
	got := list(s["enum"])
	switch {
	case ok:
		c.sameValues(path, want, got)
	case len(got) > 0:
		c.errorf(path, "the document enumerates %v, the Go type lists no values (enums or fieldEnums)", got)
	}
}

func (c *checker) sameValues(path string, want []string, got []any) {
	var g []string
	for _, v := range got {
		g = append(g, fmt.Sprint(v))
	}
	w := slices.Clone(want)
	sort.Strings(w)
	sort.Strings(g)
	if !slices.Equal(w, g) {
		c.errorf(path, "enum %v, the Go values are %v", g, w)
	}
}
