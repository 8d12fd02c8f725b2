package telemetry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// strictJSON refuses, in a payload encoding/json has already decoded into
// a deviceproto.Telemetry, what encoding/json silently accepts: null (a
// null value decodes as 0, a null ts as no ts) and repeated keys. encoding/json matches
// "ts" and "values" case-insensitively (bytes.EqualFold) and lets a later
// key overwrite or, for the values map, merge into an earlier one; metric
// names are map keys, matched exactly, the last one kept. Keys other than
// ts and values are ignored, as by encoding/json.
func strictJSON(payload []byte) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("%w: not an object", ErrPayload)
	}
	var seenTS, seenValues bool
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return err
		}
		switch {
		case strings.EqualFold(key, "ts"):
			if seenTS {
				return fmt.Errorf("%w: ts given twice", ErrPayload)
			}
			seenTS = true
			if tok, err := dec.Token(); err != nil || tok == nil {
				return fmt.Errorf("%w: ts: null", ErrPayload)
			}
		case strings.EqualFold(key, "values"):
			if seenValues {
				return fmt.Errorf("%w: values given twice", ErrPayload)
			}
			seenValues = true
			if err := strictValues(dec); err != nil {
				return err
			}
		default:
			if err := skipValue(dec); err != nil {
				return err
			}
		}
	}
	return nil
}

// strictValues reads the values object: each metric once, each a number.
func strictValues(dec *json.Decoder) error {
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("%w: values: null or not an object", ErrPayload)
	}
	seen := map[string]bool{}
	for dec.More() {
		name, err := stringToken(dec)
		if err != nil {
			return err
		}
		if seen[name] {
			return fmt.Errorf("%w: metric %q given twice", ErrPayload, name)
		}
		seen[name] = true
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrPayload, err)
		}
		if _, ok := tok.(json.Number); !ok {
			return fmt.Errorf("%w: metric %q: %v is not a number", ErrPayload, name, tok)
		}
	}
	_, err := dec.Token() // '}'
	return err
}

func stringToken(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrPayload, err)
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("%w: key %v", ErrPayload, tok)
	}
	return s, nil
}

// skipValue reads one value of any kind.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrPayload, err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}
