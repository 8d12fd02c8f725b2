package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"rampart/adminapi"
)

// readJSON serves every JSON request body of the admin API: unknown fields,
// oversized and malformed bodies are a 400 naming the problem; an optional
// body may be empty.
func TestReadJSON(t *testing.T) {
	for _, c := range []struct {
		name, body string
		optional   bool
		ok         bool
		reason     string
	}{
		{"good", `{"reason":"lost"}`, false, true, ""},
		{"optional empty", ``, true, true, ""},
		{"required empty", ``, false, false, "EOF"},
		{"unknown field", `{"reason":"x","extra":1}`, true, false, `unknown field \"extra\"`},
		{"malformed", `{"reason":`, true, false, "unexpected EOF"},
		{"oversized", `{"reason":"` + strings.Repeat("a", 200) + `"}`, true, false, "too large"},
	} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(c.body))
		w := httptest.NewRecorder()
		var req adminapi.TransitionRequest
		ok := readJSON(w, r, 128, c.optional, &req)
		if ok != c.ok {
			t.Errorf("%s: readJSON = %v, want %v (%s)", c.name, ok, c.ok, w.Body)
			continue
		}
		if !ok && (w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), c.reason)) {
			t.Errorf("%s: %d %s, want 400 naming %q", c.name, w.Code, w.Body, c.reason)
		}
		if c.name == "good" && req.Reason != "lost" {
			t.Errorf("good: decoded %+v", req)
		}
	}
}
