package zone

import (
	"embed"
	"fmt"
	"path"
	"sort"
	"strings"
)

//go:embed devices/*.yaml
var builtinFS embed.FS

// BuiltinDevices returns the built-in device descriptions, sorted by name.
// Each call parses fresh copies, so callers may modify them.
func BuiltinDevices() ([]*Device, error) {
	ents, err := builtinFS.ReadDir("devices")
	if err != nil {
		return nil, fmt.Errorf("zone: built-in devices: %w", err)
	}
	var out []*Device
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		d, err := loadBuiltin(e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func loadBuiltin(file string) (*Device, error) {
	data, err := builtinFS.ReadFile(path.Join("devices", file))
	if err != nil {
		return nil, fmt.Errorf("zone: built-in device %s: %w", file, err)
	}
	return ParseDevice(data, "builtin:"+file)
}

// BuiltinDevice returns the built-in device called name (its name, or its
// file name without .yaml, case-insensitive: "mps2-an505", "an505").
func BuiltinDevice(name string) (*Device, error) {
	want := strings.ToLower(strings.TrimSuffix(name, ".yaml"))
	ents, err := builtinFS.ReadDir("devices")
	if err != nil {
		return nil, fmt.Errorf("zone: built-in devices: %w", err)
	}
	for _, e := range ents {
		if strings.TrimSuffix(e.Name(), ".yaml") == want {
			return loadBuiltin(e.Name())
		}
	}
	all, err := BuiltinDevices()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, d := range all {
		if strings.ToLower(d.Name) == want {
			return d, nil
		}
		names = append(names, d.Name)
	}
	return nil, fmt.Errorf("%w: no built-in device %q (have %s)", ErrReference, name, strings.Join(names, ", "))
}
