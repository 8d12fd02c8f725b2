package zone

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"rampart/internal/yamlerr"
)

// Limits on YAML and XML inputs.
const (
	MaxFileSize = 4 << 20 // bytes
	MaxItems    = 4096    // memories, peripherals, partitions, zones, areas, references
)

// LoadProject reads a project YAML file. A device given by path is read
// relative to the project file.
func LoadProject(path string) (*Project, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	return parseProject(data, path, func(name string) ([]byte, string, error) {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, name)
		}
		b, err := readLimited(p)
		return b, p, err
	})
}

// ParseProject parses a project YAML document; file names it in errors. The
// device must be built in or inline (no file access).
func ParseProject(data []byte, file string) (*Project, error) {
	return parseProject(data, file, nil)
}

// ParseDevice parses a device description YAML document.
func ParseDevice(data []byte, file string) (*Device, error) {
	if len(data) > MaxFileSize {
		return nil, errAt(ErrTooLarge, file, 0, "file is %d bytes, limit %d", len(data), MaxFileSize)
	}
	var yd yDevice
	root, err := decodeStrict(data, file, &yd)
	if err != nil {
		return nil, err
	}
	return convertDevice(&yd, file, root)
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("zone: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("zone: %s: %w", path, err)
	}
	if len(b) > MaxFileSize {
		return nil, errAt(ErrTooLarge, path, 0, "file is larger than %d bytes", MaxFileSize)
	}
	return b, nil
}

var yamlLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`line (\d+): (.*)`) })

// decodeStrict decodes one YAML document into v, rejecting unknown fields,
// and also returns the node tree for positions.
func decodeStrict(data []byte, file string, v any) (*yaml.Node, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errAt(ErrSyntax, file, 0, "empty document")
	}
	// Unknown fields, wrong kinds and a second document, each at its
	// file:line:column with the field path and the known fields.
	if err := yamlerr.DecodeYAML(file, data, v); err != nil {
		return nil, yamlerr.Mark(err, ErrSyntax)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(file, err)
	}
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		return root.Content[0], nil
	}
	return &root, nil
}

// yamlError turns the decoder's "yaml: line N: msg" into file:N: msg.
func yamlError(file string, err error) error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if m := yamlLine().FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		text := strings.ReplaceAll(m[2], "in type zone.y", "in ")
		text = strings.Replace(text, "not found in", "is not a field of", 1)
		// Nested errors from Hex carry their own "line N:"; keep the innermost.
		if m2 := yamlLine().FindStringSubmatch(text); m2 != nil {
			n, _ = strconv.Atoi(m2[1])
			text = m2[2]
		}
		return errAt(ErrSyntax, file, n, "%s", text)
	}
	return errAt(ErrSyntax, file, 0, "%s", msg)
}

// node navigation for positions -------------------------------------------

func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func item(n *yaml.Node, i int) *yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
		return nil
	}
	return n.Content[i]
}

func line(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}

// fieldLine is the line of key inside mapping n, else the mapping's own line.
func fieldLine(n *yaml.Node, key string) int {
	if c := child(n, key); c != nil {
		return c.Line
	}
	return line(n)
}

func seqLines(n *yaml.Node, count int) []int {
	out := make([]int, count)
	for i := range out {
		out[i] = line(item(n, i))
	}
	return out
}
