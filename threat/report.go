package threat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// Report formats.
const (
	FormatMarkdown = "md"
	FormatHTML     = "html"
	FormatJSON     = "json"
	FormatSARIF    = "sarif"
)

// Formats lists the report formats in a stable order.
var Formats = []string{FormatMarkdown, FormatHTML, FormatJSON, FormatSARIF}

// WriteReport renders a in format to w.
func WriteReport(w io.Writer, a *Analysis, format string) error {
	var b bytes.Buffer
	var err error
	switch format {
	case FormatMarkdown:
		err = writeMarkdown(&b, a)
	case FormatHTML:
		err = writeHTML(&b, a)
	case FormatJSON:
		err = writeJSON(&b, a)
	case FormatSARIF:
		err = writeSARIF(&b, a)
	default:
		return fmt.Errorf("threat: unknown report format %q (want md, html, json or sarif)", format)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(b.Bytes())
	return err
}

type jsonReport struct {
	Format string `json:"format"`
	*Analysis
}

func writeJSON(w io.Writer, a *Analysis) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(jsonReport{Format: "rampart-threat-report/1", Analysis: a})
}
