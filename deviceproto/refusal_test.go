package deviceproto

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestRefusalCodes: every code has its HTTP status, and only the codes a
// fresh attempt can cure are retryable; the JSON body keeps its field
// names (docs/fleet-enrollment.md).
func TestRefusalCodes(t *testing.T) {
	for c, want := range map[Code]struct {
		status    int
		retryable bool
	}{
		CodeOversized:       {http.StatusRequestEntityTooLarge, false},
		CodeMalformed:       {http.StatusBadRequest, false},
		CodeMalformedToken:  {http.StatusBadRequest, false},
		CodeNonceUnknown:    {http.StatusForbidden, true},
		CodeNonceReplayed:   {http.StatusForbidden, true},
		CodeUnknownInstance: {http.StatusForbidden, false},
		CodeBadSignature:    {http.StatusForbidden, false},
		CodeBinding:         {http.StatusForbidden, false},
		CodeLifecycle:       {http.StatusForbidden, false},
		CodeEndorsement:     {http.StatusForbidden, false},
		CodeDeviceState:     {http.StatusForbidden, false},
		CodeUnknownFirmware: {http.StatusForbidden, false},
		CodeNoMeasurements:  {http.StatusForbidden, false},
		CodeInternal:        {http.StatusInternalServerError, true},
	} {
		if got := c.HTTPStatus(); got != want.status {
			t.Errorf("%s: status %d, want %d", c, got, want.status)
		}
		if got := c.Retryable(); got != want.retryable {
			t.Errorf("%s: retryable %v, want %v", c, got, want.retryable)
		}
	}
	b, _ := json.Marshal(&Refusal{Code: CodeBinding, Detail: "d"})
	if string(b) != `{"error":"binding","detail":"d"}` {
		t.Fatalf("refusal JSON %s", b)
	}
}
