package certify

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"rampart/internal/yamlerr"

	"rampart/threat"
)

// ErrProject is wrapped by every error about the project file's content.
var ErrProject = errors.New("invalid project file")

// maxFile bounds every file certify reads.
const maxFile = 4 << 20

// Project is the project file, rampart.yaml.
type Project struct {
	// File is the path of the project file; Dir the directory that the
	// paths in it are relative to.
	File, Dir string
	Name      string
	// Paths of the files the project names ("" when not named), as written.
	ThreatModel, Zone, ImageSigning, Device, SPE string
	// NotApplicable maps a Level 1 requirement to the reason it does not apply.
	NotApplicable map[string]string
	// Lines records where each field was written.
	Lines map[string]int
}

var projectFields = []string{"rampart_project", "name", "threat_model", "zone", "image_signing", "device", "spe", "not_applicable"}

// LoadProject reads and parses a project file.
func LoadProject(path string) (*Project, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, fmt.Errorf("certify: %w", err)
	}
	return ParseProject(path, data)
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxFile)
	}
	return data, nil
}

func perr(file string, line int, format string, args ...any) error {
	return fmt.Errorf("certify: %s:%d: %s: %w", file, line, fmt.Sprintf(format, args...), ErrProject)
}

var yamlLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`line (\d+): `) })

// ParseProject parses project file bytes; name is the file's path, whose
// directory the named paths are relative to.
func ParseProject(name string, data []byte) (*Project, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, perr(name, 1, "empty file: a project file starts with rampart_project: 1")
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 0
		if m := yamlLine().FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = strings.TrimPrefix(msg, m[0])
		}
		return nil, perr(name, line, "malformed YAML: %s", msg)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, perr(name, root.Line, "a project file is a mapping of fields")
	}
	p := &Project{File: name, Dir: filepath.Dir(name), NotApplicable: map[string]string{}, Lines: map[string]int{}}
	version := -1
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if v.Kind == yaml.AliasNode || v.Anchor != "" {
			return nil, perr(name, v.Line, "%s: YAML anchors and aliases are not allowed", k.Value)
		}
		if _, dup := p.Lines[k.Value]; dup {
			return nil, perr(name, k.Line, "%s: field given twice", k.Value)
		}
		p.Lines[k.Value] = v.Line
		str := func(dst *string) error {
			if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" {
				return perr(name, v.Line, "%s: want a string (a path), got %s", k.Value, v.ShortTag())
			}
			*dst = v.Value
			return nil
		}
		var err error
		switch k.Value {
		case "rampart_project":
			version, err = strconv.Atoi(v.Value)
			if err != nil || v.ShortTag() != "!!int" {
				return nil, perr(name, v.Line, "rampart_project: want the integer 1")
			}
		case "name":
			err = str(&p.Name)
		case "threat_model":
			err = str(&p.ThreatModel)
		case "zone":
			err = str(&p.Zone)
		case "image_signing":
			err = str(&p.ImageSigning)
		case "device":
			err = str(&p.Device)
		case "spe":
			err = str(&p.SPE)
		case "not_applicable":
			if v.Kind != yaml.MappingNode {
				return nil, perr(name, v.Line, "not_applicable: want a mapping of requirement ID to reason")
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				id, why := v.Content[j], v.Content[j+1]
				if _, ok := threat.PSARequirementByID(id.Value); !ok {
					return nil, perr(name, id.Line, "not_applicable: %q is not a PSA Certified Level 1 requirement (R1.1 to R7.1)", id.Value)
				}
				if why.Kind != yaml.ScalarNode || strings.TrimSpace(why.Value) == "" {
					return nil, perr(name, why.Line, "not_applicable.%s: a reason (a non-empty string) is required", id.Value)
				}
				p.NotApplicable[id.Value] = why.Value
				p.Lines["not_applicable."+id.Value] = id.Line
			}
		default:
			known := append([]string(nil), projectFields...)
			sort.Strings(known)
			return nil, yamlerr.Mark(&yamlerr.Error{Problems: []yamlerr.Problem{
				yamlerr.At(name, k, k.Value, "unknown field %q (known fields: %s)", k.Value, strings.Join(known, ", "))}}, ErrProject)
		}
		if err != nil {
			return nil, err
		}
	}
	if version != 1 {
		return nil, perr(name, p.Lines["rampart_project"], "rampart_project: want 1 (the format version)")
	}
	return p, nil
}

// path resolves a path named in the project against its directory.
func (p *Project) path(rel string) string {
	if filepath.IsAbs(rel) {
		return rel
	}
	return filepath.Join(p.Dir, rel)
}
