package threat

import (
	"errors"
	"fmt"
	"strings"
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

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(location(p.File, p.Pos))
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
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
