package certify

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// configDoc is a YAML (or JSON) configuration file read for evidence: a
// tree of nodes with their lines. Only the keys in its schema are allowed.
type configDoc struct {
	role, file string // role: "device", "image_signing"; file: path as shown
	root       *yaml.Node
	missing    bool  // the file does not exist
	err        error // the file exists but could not be used
}

// schemas list the keys certify reads from the configuration files that
// it defines (docs/certify.md); a key outside them is an error, so that a
// misspelt key is not silently taken as "not found".
var schemas = map[string]map[string]bool{
	"device": keys("lifecycle", "debug", "trng", "attestation", "attestation.enabled", "attestation.key",
		"storage", "storage.ps_encryption", "storage.its", "audit_log", "audit_log.enabled", "audit_log.access",
		"network", "network.tls", "network.server_authentication", "network.client_certificate",
		"passwords", "signed_configuration", "erase_on_decommission"),
	"image_signing": keys("key", "security_counter", "encryption_key"),
}

func keys(ks ...string) map[string]bool {
	m := map[string]bool{}
	for _, k := range ks {
		m[k] = true
	}
	return m
}

func openConfig(role, path, shown string) *configDoc {
	d := &configDoc{role: role, file: shown}
	data, err := readLimited(path)
	if errors.Is(err, fs.ErrNotExist) {
		d.missing = true
		return d
	}
	if err != nil {
		d.err = err
		return d
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		d.err = fmt.Errorf("malformed YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		return d
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		d.err = fmt.Errorf("line %d: want a mapping of settings", root.Line)
		return d
	}
	if err := checkKeys(root, "", schemas[role]); err != nil {
		d.err = err
		return d
	}
	d.root = root
	return d
}

func checkKeys(n *yaml.Node, prefix string, allowed map[string]bool) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind == yaml.AliasNode || v.Anchor != "" {
			return fmt.Errorf("line %d: anchors and aliases are not allowed", v.Line)
		}
		path := k.Value
		if prefix != "" {
			path = prefix + "." + k.Value
		}
		if !allowed[path] {
			var known []string
			for a := range allowed {
				if !strings.Contains(strings.TrimPrefix(a, prefix+"."), ".") && (prefix == "" || strings.HasPrefix(a, prefix+".")) {
					known = append(known, a)
				}
			}
			sort.Strings(known)
			return fmt.Errorf("line %d: unknown setting %q (known: %s)", k.Line, path, strings.Join(known, ", "))
		}
		if v.Kind == yaml.MappingNode {
			if err := checkKeys(v, path, allowed); err != nil {
				return err
			}
		}
	}
	return nil
}

// usable reports whether settings can be read from d.
func (d *configDoc) usable() bool { return d != nil && d.root != nil }

// lookup returns the node at a dotted key path, or nil.
func (d *configDoc) lookup(key string) *yaml.Node {
	if !d.usable() {
		return nil
	}
	n := d.root
	for _, part := range strings.Split(key, ".") {
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}

func (d *configDoc) at(n *yaml.Node) string { return fmt.Sprintf("%s:%d", d.file, n.Line) }

// unavailable is the evidence for a setting when the file itself cannot be
// used: not named, not found, or invalid.
func (d *configDoc) unavailable(key, what string) Evidence {
	switch {
	case d == nil:
		return Evidence{Source: "rampart.yaml", Found: fmt.Sprintf("%s: no %s configuration named in the project", what, roleTitle(key)), Result: NotFound}
	case d.missing:
		return Evidence{Source: d.file, Found: fmt.Sprintf("%s: file not found", what), Result: NotFound}
	default:
		return Evidence{Source: d.file, Found: fmt.Sprintf("%s: cannot be read: %v", what, d.err), Result: Fails}
	}
}

func roleTitle(role string) string { return strings.ReplaceAll(role, "_", "-") }

// boolSetting checks that key is true.
func (d *configDoc) boolSetting(role, key, what string) Evidence {
	if !d.usable() {
		return d.unavailable(role, what)
	}
	n := d.lookup(key)
	if n == nil {
		return Evidence{Source: d.file, Found: fmt.Sprintf("%s: setting %s not found", what, key), Result: NotFound}
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		return Evidence{Source: d.at(n), Found: fmt.Sprintf("%s: %s must be true or false, is %q", what, key, n.Value), Result: Fails}
	}
	if n.Value == "true" {
		return Evidence{Source: d.at(n), Found: fmt.Sprintf("%s (%s: true)", what, key), Result: OK}
	}
	return Evidence{Source: d.at(n), Found: fmt.Sprintf("%s is off (%s: %s)", what, key, n.Value), Result: Fails}
}

// enumSetting checks that key has one of the good values; bad values fail.
func (d *configDoc) enumSetting(role, key, what string, good, bad []string) Evidence {
	if !d.usable() {
		return d.unavailable(role, what)
	}
	n := d.lookup(key)
	if n == nil {
		return Evidence{Source: d.file, Found: fmt.Sprintf("%s: setting %s not found", what, key), Result: NotFound}
	}
	for _, g := range good {
		if n.Kind == yaml.ScalarNode && n.Value == g {
			return Evidence{Source: d.at(n), Found: fmt.Sprintf("%s (%s: %s)", what, key, n.Value), Result: OK}
		}
	}
	for _, b := range bad {
		if n.Kind == yaml.ScalarNode && n.Value == b {
			return Evidence{Source: d.at(n), Found: fmt.Sprintf("%s: %s is %s", what, key, n.Value), Result: Fails}
		}
	}
	return Evidence{Source: d.at(n), Found: fmt.Sprintf("%s: %s has the unknown value %q (want %s)", what, key, n.Value, strings.Join(append(append([]string(nil), good...), bad...), ", ")), Result: Fails}
}
