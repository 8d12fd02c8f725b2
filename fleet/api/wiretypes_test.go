package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"rampart/adminapi"
)

// replyTypes are the adminapi types the OpenAPI document names as reply
// bodies.
var replyTypes = map[string]reflect.Type{}

func init() {
	for _, v := range []any{adminapi.Error{}, adminapi.Device{}, adminapi.DeviceDetail{}, adminapi.TransitionResult{}, adminapi.Endorsement{},
		adminapi.ImportResult{}, adminapi.Release{}, adminapi.AuditEntry{}, adminapi.Point{}, adminapi.CampaignSummary{}} {
		t := reflect.TypeOf(v)
		replyTypes[t.Name()] = t
	}
}

// checkReplyType finds the reply schema the OpenAPI document gives for
// method, path and status, decodes body into the adminapi type of that
// name (unknown fields refused) and encodes it again: the result must be
// body, byte for byte. So the document names the right type for every
// reply, and that type carries every field the server sends, as it sends it.
func checkReplyType(doc map[string]any, method, path string, status int, contentType string, body []byte) error {
	if !strings.HasPrefix(contentType, "application/json") {
		return nil
	}
	op, err := operation(doc, method, path)
	if err != nil {
		return err
	}
	resp, _ := op["responses"].(map[string]any)[strconv.Itoa(status)].(map[string]any)
	if resp == nil {
		return fmt.Errorf("%s %s: status %d is not documented", method, path, status)
	}
	if ref, ok := resp["$ref"].(string); ok {
		resp = lookup(doc, ref)
	}
	schema, _ := dig(resp, "content", "application/json", "schema").(map[string]any)
	if schema == nil {
		return fmt.Errorf("%s %s %d: no application/json schema", method, path, status)
	}
	array := schema["type"] == "array"
	if array {
		schema, _ = schema["items"].(map[string]any)
	}
	ref, _ := schema["$ref"].(string)
	name := strings.TrimPrefix(ref, "#/components/schemas/")
	t, ok := replyTypes[name]
	if !ok {
		return fmt.Errorf("%s %s %d: schema %q is no adminapi reply type", method, path, status, name)
	}
	if array {
		t = reflect.SliceOf(t)
	}
	v := reflect.New(t)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v.Interface()); err != nil {
		return fmt.Errorf("%s %s %d: decoding as %s: %v", method, path, status, t, err)
	}
	var again bytes.Buffer
	enc := json.NewEncoder(&again)
	if bytes.HasPrefix(body, []byte("[\n")) || bytes.HasPrefix(body, []byte("{\n")) {
		enc.SetIndent("", "  ")
	}
	enc.Encode(v.Interface())
	if !bytes.Equal(again.Bytes(), body) {
		return fmt.Errorf("%s %s %d: as %s the reply reads\n%s\nnot\n%s", method, path, status, t, again.Bytes(), body)
	}
	return nil
}

// operation finds the document's operation for a request path.
func operation(doc map[string]any, method, path string) (map[string]any, error) {
	path, _, _ = strings.Cut(path, "?")
	got := strings.Split(path, "/")
	for tmpl, ops := range doc["paths"].(map[string]any) {
		want := strings.Split(tmpl, "/")
		if len(want) != len(got) {
			continue
		}
		match := true
		for i := range want {
			if !strings.HasPrefix(want[i], "{") && want[i] != got[i] {
				match = false
			}
		}
		if op, ok := ops.(map[string]any)[strings.ToLower(method)].(map[string]any); match && ok {
			return op, nil
		}
	}
	return nil, fmt.Errorf("%s %s: no operation in the document", method, path)
}

func lookup(doc map[string]any, ref string) map[string]any {
	var v any = doc
	for _, k := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		v = dig(v, k)
	}
	m, _ := v.(map[string]any)
	return m
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}
