package adminapi

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is the body of every error reply: {"error": "..."}.
type Error struct {
	Error string `json:"error"`
}

// StatusError is a reply other than 2xx, with the server's message.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("adminapi: server answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// IsStatus reports whether err is a *StatusError with one of codes.
func IsStatus(err error, codes ...int) bool {
	var se *StatusError
	if !errors.As(err, &se) {
		return false
	}
	for _, c := range codes {
		if se.Status == c {
			return true
		}
	}
	return false
}
