package threat

import (
	"errors"
	"fmt"
	"strings"

	"rampart/internal/yamlerr"
)

// Pos is a position in a model file (1-based; zero means unknown).
type Pos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// ErrInvalid is wrapped by every error that reports a problem in a model's
// content (as opposed to a failure to read the file).
var ErrInvalid = errors.New("invalid threat model")

// Problem is one error located in a model file.
type Problem struct {
	File string
	Pos  Pos
	// Field is the path of the offending value, such as "threats[2].cvss".
	Field string
	Msg   string
}

// location formats file:line:column, leaving out what is unknown.
func location(file string, p Pos) string {
	var b strings.Builder
	b.WriteString(file)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, ":%d", p.Column)
		}
	}
	return b.String()
}

// String is file:line:column: field: message, the one style of every file
// Rampart reads (internal/yamlerr).
func (p Problem) String() string {
	return yamlerr.Problem{File: p.File, Line: p.Pos.Line, Column: p.Pos.Column, Field: p.Field, Msg: p.Msg}.String()
}

// LoadError lists every problem found while loading a model.
type LoadError struct {
	Problems []Problem
}

func (e *LoadError) Error() string {
	if len(e.Problems) == 0 {
		return "threat: invalid model"
	}
	s := "threat: " + e.Problems[0].String()
	if n := len(e.Problems) - 1; n > 0 {
		s += fmt.Sprintf(" (and %d more)", n)
	}
	return s
}

func (e *LoadError) Unwrap() error { return ErrInvalid }
