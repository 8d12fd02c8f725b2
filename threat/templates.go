package threat

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

//go:embed templates/*.yaml
var templateFS embed.FS

// DefaultTemplate is the template `rampart threat init` writes by default.
const DefaultTemplate = "water-meter"

// Templates lists the names of the example models shipped with Rampart.
func Templates() []string {
	entries, _ := templateFS.ReadDir("templates")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// Template returns the YAML text of the named example model.
func Template(name string) ([]byte, error) {
	data, err := templateFS.ReadFile("templates/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("threat: no template %q (templates: %s)", name, strings.Join(Templates(), ", "))
	}
	return data, nil
}
