package zone

import (
	"embed"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
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
	index, err := builtinIndex()
	if err != nil {
		return nil, err
	}
	if file, ok := index[want]; ok {
		return loadBuiltin(file)
	}
	var names []string
	for n := range index {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("%w: no built-in device %q (have %s)", ErrReference, name, strings.Join(names, ", "))
}

var (
	indexOnce sync.Once
	index     map[string]string // lower-case device name -> file
	indexErr  error
)

// builtinIndex maps device names to their files, parsing each file once.
func builtinIndex() (map[string]string, error) {
	indexOnce.Do(func() {
		ents, err := builtinFS.ReadDir("devices")
		if err != nil {
			indexErr = err
			return
		}
		index = map[string]string{}
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".yaml") {
				continue
			}
			d, err := loadBuiltin(e.Name())
			if err != nil {
				indexErr = err
				return
			}
			index[strings.ToLower(d.Name)] = e.Name()
		}
	})
	return index, indexErr
}
