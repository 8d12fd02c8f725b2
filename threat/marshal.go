package threat

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// Marshal writes m in the model file format. Parse(Marshal(m)) yields the
// same model (positions aside); comments in the original file are not kept.
func Marshal(m *Model) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("threat: encoding model: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("threat: encoding model: %w", err)
	}
	return b.Bytes(), nil
}
