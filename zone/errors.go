package zone

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors; every error this package returns wraps one of them.
var (
	// ErrSyntax: the file is not well-formed (bad YAML, unknown field, bad number).
	ErrSyntax = errors.New("zone: syntax error")
	// ErrReference: a name refers to nothing (unknown memory, zone, peripheral, device).
	ErrReference = errors.New("zone: unknown reference")
	// ErrCheck: the project is well-formed but breaks a hardware or assignment rule.
	ErrCheck = errors.New("zone: check failed")
	// ErrTooLarge: an input exceeds a hard limit (file size, item counts).
	ErrTooLarge = errors.New("zone: input too large")
)

// Severity of a [Diagnostic].
type Severity int

// Severities.
const (
	Error Severity = iota
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Diagnostic is one finding of [Analyze], located in the source file.
type Diagnostic struct {
	Severity Severity `json:"-"`
	Level    string   `json:"severity"`
	Code     string   `json:"code"` // stable identifier, e.g. "Z-SAU-ALIGN"
	File     string   `json:"file,omitempty"`
	Line     int      `json:"line,omitempty"`
	Field    string   `json:"field,omitempty"` // the field at fault, e.g. "partitions[CODE_NS].size"
	Message  string   `json:"message"`
}

// String renders "file:line: error CODE: field: message".
func (d Diagnostic) String() string {
	var b strings.Builder
	if d.File != "" {
		b.WriteString(d.File)
		if d.Line > 0 {
			fmt.Fprintf(&b, ":%d", d.Line)
		}
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "%s %s: ", d.Severity, d.Code)
	if d.Field != "" {
		b.WriteString(d.Field + ": ")
	}
	b.WriteString(d.Message)
	return b.String()
}

// CheckError is returned when a project has at least one error diagnostic.
type CheckError struct {
	Diagnostics []Diagnostic // errors only
}

func (e *CheckError) Error() string {
	if len(e.Diagnostics) == 1 {
		return "zone: " + e.Diagnostics[0].String()
	}
	return fmt.Sprintf("zone: %d errors, first: %s", len(e.Diagnostics), e.Diagnostics[0])
}

// Unwrap makes errors.Is(err, ErrCheck) true.
func (e *CheckError) Unwrap() error { return ErrCheck }

// posError is a syntax or reference error at a position in a file.
type posError struct {
	file string
	line int
	msg  string
	err  error
}

func (e *posError) Error() string {
	loc := e.file
	if e.line > 0 {
		loc = fmt.Sprintf("%s:%d", e.file, e.line)
	}
	if loc == "" {
		return "zone: " + e.msg
	}
	return "zone: " + loc + ": " + e.msg
}

func (e *posError) Unwrap() error { return e.err }

func errAt(sentinel error, file string, line int, format string, args ...any) error {
	return &posError{file: file, line: line, msg: fmt.Sprintf(format, args...), err: sentinel}
}
