package hsm

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Scheme is the prefix of every PKCS#11 URI (RFC 7512).
const Scheme = "pkcs11:"

// maxURI bounds a URI: real ones are a few hundred bytes.
const maxURI = 4096

// URI is a parsed RFC 7512 PKCS#11 URI naming one key in one token.
// Empty fields match anything.
type URI struct {
	// Path attributes: which token and which object.
	Token        string // token=: the token label
	Manufacturer string // manufacturer=
	Serial       string // serial=
	Model        string // model=
	SlotID       int    // slot-id= (decimal); -1 when absent
	Object       string // object=: CKA_LABEL
	ID           []byte // id=: CKA_ID, percent-encoded bytes
	Type         string // type=: public, private, cert, secret-key or data

	// Query attributes: how to reach the token.
	ModulePath string // module-path=: the PKCS#11 shared library
	ModuleName string // module-name=: a library name to find in the system's directories
	PinSource  string // pin-source=: file:/path or an absolute path holding the PIN
}

// IsURI says whether s is meant as a PKCS#11 URI rather than a file name.
func IsURI(s string) bool { return strings.HasPrefix(s, Scheme) }

var pathAttrs = []string{"token", "manufacturer", "serial", "model", "slot-id", "object", "id", "type",
	"library-manufacturer", "library-description", "library-version", "slot-description", "slot-manufacturer"}

var objectTypes = []string{"public", "private", "cert", "secret-key", "data"}

// ParseURI parses s. It refuses what RFC 7512 does not allow (bad
// percent-encoding, an attribute given twice, an unknown attribute that is
// not vendor-specific "x-"), and pin-value, because a PIN in a URI ends up
// on command lines and in configuration files: use pin-source.
func ParseURI(s string) (*URI, error) {
	if len(s) > maxURI {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrURI, maxURI)
	}
	if !IsURI(s) {
		return nil, fmt.Errorf("%w: %q does not start with %q", ErrURI, clip(s), Scheme)
	}
	rest := s[len(Scheme):]
	path, query, _ := strings.Cut(rest, "?")
	u := &URI{SlotID: -1}
	seen := map[string]bool{}
	for _, a := range splitNonEmpty(path, ";") {
		if err := u.setPath(a, seen); err != nil {
			return nil, err
		}
	}
	for _, a := range splitNonEmpty(query, "&") {
		if err := u.setQuery(a, seen); err != nil {
			return nil, err
		}
	}
	return u, nil
}

func splitNonEmpty(s, sep string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, sep)
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// attr splits name=value and decodes the value.
func attr(a string, seen map[string]bool, where string) (name, value string, err error) {
	name, raw, ok := strings.Cut(a, "=")
	if !ok || name == "" {
		return "", "", fmt.Errorf("%w: %s attribute %q is not name=value", ErrURI, where, clip(a))
	}
	if seen[name] {
		return "", "", fmt.Errorf("%w: attribute %q given twice", ErrURI, name)
	}
	seen[name] = true
	value, err = url.PathUnescape(raw)
	if err != nil {
		return "", "", fmt.Errorf("%w: attribute %q: bad percent-encoding", ErrURI, name)
	}
	return name, value, nil
}

func (u *URI) setPath(a string, seen map[string]bool) error {
	name, v, err := attr(a, seen, "path")
	if err != nil {
		return err
	}
	switch name {
	case "token":
		u.Token = v
	case "manufacturer":
		u.Manufacturer = v
	case "serial":
		u.Serial = v
	case "model":
		u.Model = v
	case "object":
		u.Object = v
	case "id":
		u.ID = []byte(v)
	case "type":
		if !slices.Contains(objectTypes, v) {
			return fmt.Errorf("%w: type=%q is not one of %s", ErrURI, clip(v), strings.Join(objectTypes, ", "))
		}
		u.Type = v
	case "slot-id":
		n, err := strconv.ParseUint(v, 10, 31)
		if err != nil {
			return fmt.Errorf("%w: slot-id=%q is not a decimal number", ErrURI, clip(v))
		}
		u.SlotID = int(n)
	default:
		if !slices.Contains(pathAttrs, name) && !strings.HasPrefix(name, "x-") {
			return fmt.Errorf("%w: unknown path attribute %q (known: %s)", ErrURI, clip(name), strings.Join(pathAttrs, ", "))
		}
		// library-* and slot-description/manufacturer are accepted and
		// not matched: token attributes name the token precisely enough.
	}
	return nil
}

func (u *URI) setQuery(a string, seen map[string]bool) error {
	name, v, err := attr(a, seen, "query")
	if err != nil {
		return err
	}
	switch name {
	case "module-path":
		if !filepath.IsAbs(v) {
			return fmt.Errorf("%w: module-path=%q is not an absolute path", ErrURI, clip(v))
		}
		u.ModulePath = v
	case "module-name":
		if strings.ContainsAny(v, "/\\") || v == "" {
			return fmt.Errorf("%w: module-name=%q must be a bare library name", ErrURI, clip(v))
		}
		u.ModuleName = v
	case "pin-source":
		if _, err := pinPath(v); err != nil {
			return err
		}
		u.PinSource = v
	case "pin-value":
		return fmt.Errorf("%w: pin-value is refused: a PIN in a URI leaks through command lines and configuration files; put it in a 0600 file and give pin-source=file:/path", ErrURI)
	default:
		if !strings.HasPrefix(name, "x-") {
			return fmt.Errorf("%w: unknown query attribute %q (known: module-path, module-name, pin-source)", ErrURI, clip(name))
		}
	}
	return nil
}

// pinPath turns a pin-source value into a file path: a file: URI or an
// absolute path.
func pinPath(v string) (string, error) {
	p := v
	if strings.HasPrefix(v, "file:") {
		p = strings.TrimPrefix(v, "file:")
		if strings.HasPrefix(p, "//") {
			host, rest, _ := strings.Cut(p[2:], "/")
			if host != "" && host != "localhost" {
				return "", fmt.Errorf("%w: pin-source=%q names a remote host", ErrURI, clip(v))
			}
			p = "/" + rest
		}
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("%w: pin-source=%q is not file:/absolute/path", ErrURI, clip(v))
	}
	return p, nil
}

// Module returns the path of the PKCS#11 library to load: module-path, else
// module-name looked up in the usual directories, else $RAMPART_PKCS11_MODULE.
func (u *URI) Module() (string, error) {
	if u.ModulePath != "" {
		return u.ModulePath, nil
	}
	if u.ModuleName != "" {
		for _, dir := range moduleDirs {
			for _, name := range []string{u.ModuleName, u.ModuleName + ".so", "lib" + u.ModuleName + ".so"} {
				p := filepath.Join(dir, name)
				if _, err := os.Stat(p); err == nil {
					return p, nil
				}
			}
		}
		return "", fmt.Errorf("%w: module-name=%q not found in %s", ErrModule, u.ModuleName, strings.Join(moduleDirs, ", "))
	}
	if p := os.Getenv(ModuleEnv); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("%w: the URI names no module: add ?module-path=/path/to/module.so (or set %s)", ErrURI, ModuleEnv)
}

// ModuleEnv names the variable giving the PKCS#11 module when a URI names none.
const ModuleEnv = "RAMPART_PKCS11_MODULE"

var moduleDirs = []string{"/usr/lib/x86_64-linux-gnu/pkcs11", "/usr/lib/aarch64-linux-gnu/pkcs11",
	"/usr/lib/softhsm", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib/pkcs11", "/usr/local/lib"}

// ReadPIN reads the PIN from pin-source. The file must not be readable by
// group or others (as ssh insists of its keys); one trailing newline is
// dropped. No pin-source gives an empty PIN (a token without login).
func (u *URI) ReadPIN() (string, error) {
	if u.PinSource == "" {
		return "", nil
	}
	p, err := pinPath(u.PinSource)
	if err != nil {
		return "", err
	}
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrPINSource, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrPINSource, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%w: %s has mode %04o: a PIN file must be readable by its owner only (chmod 600)", ErrPINSource, p, st.Mode().Perm())
	}
	b := make([]byte, 257)
	n, _ := f.Read(b)
	if n > 256 {
		return "", fmt.Errorf("%w: %s is longer than a PIN (256 bytes)", ErrPINSource, p)
	}
	pin := strings.TrimSuffix(strings.TrimSuffix(string(b[:n]), "\n"), "\r")
	return pin, nil
}

// String writes u back as a URI (attributes in a fixed order, values
// percent-encoded), so ParseURI(u.String()) equals u.
func (u *URI) String() string {
	var path, query []string
	add := func(list *[]string, name, v string) {
		if v != "" {
			*list = append(*list, name+"="+escape(v))
		}
	}
	add(&path, "token", u.Token)
	add(&path, "manufacturer", u.Manufacturer)
	add(&path, "serial", u.Serial)
	add(&path, "model", u.Model)
	if u.SlotID >= 0 {
		path = append(path, "slot-id="+strconv.Itoa(u.SlotID))
	}
	add(&path, "object", u.Object)
	if u.ID != nil {
		path = append(path, "id="+escapeAll(u.ID))
	}
	add(&path, "type", u.Type)
	add(&query, "module-path", u.ModulePath)
	add(&query, "module-name", u.ModuleName)
	add(&query, "pin-source", u.PinSource)
	s := Scheme + strings.Join(path, ";")
	if len(query) > 0 {
		s += "?" + strings.Join(query, "&")
	}
	return s
}

// escape percent-encodes all but RFC 3986 unreserved characters, ':' and '/'.
func escape(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~:/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func escapeAll(v []byte) string {
	var b strings.Builder
	for _, c := range v {
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
