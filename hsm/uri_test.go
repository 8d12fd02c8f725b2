package hsm_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rampart/hsm"
)

func TestParseURI(t *testing.T) {
	u, err := hsm.ParseURI("pkcs11:token=Fleet%20CA;object=ca;id=%01%a0;type=private;slot-id=3;x-vendor=1" +
		"?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:///etc/rampart/pin")
	if err != nil {
		t.Fatal(err)
	}
	if u.Token != "Fleet CA" || u.Object != "ca" || !bytes.Equal(u.ID, []byte{1, 0xa0}) || u.Type != "private" ||
		u.SlotID != 3 || u.ModulePath != "/usr/lib/softhsm/libsofthsm2.so" || u.PinSource != "file:///etc/rampart/pin" {
		t.Errorf("parsed %+v", u)
	}
	// RFC 7512's own examples parse.
	for _, s := range []string{
		"pkcs11:",
		"pkcs11:object=my-pubkey;type=public",
		"pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
		"pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=",
		"pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-source=file:/etc/token_pin",
		"pkcs11:slot-description=Sun%20Metaslot",
		"pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;library-version=1.23",
		"pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert",
		"pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert",
		"pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a?pin-source=file:/etc/token_pin&vendor-bbb=value-b",
	} {
		_, err := hsm.ParseURI(s)
		if strings.Contains(s, "vendor-aaa") {
			// Unknown non-"x-" attributes are refused: a typo must not
			// widen which key is used.
			if !errors.Is(err, hsm.ErrURI) {
				t.Errorf("%s: %v; want refused", s, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
}

func TestParseURIRefuses(t *testing.T) {
	for _, c := range []struct{ uri, says string }{
		{"file:/key.pem", "does not start"},
		{"pkcs11:token=a;token=b", "given twice"},
		{"pkcs11:token=%zz", "percent-encoding"},
		{"pkcs11:tokn=a", "unknown path attribute"},
		{"pkcs11:token", "name=value"},
		{"pkcs11:type=secret", "type="},
		{"pkcs11:slot-id=-1", "slot-id"},
		{"pkcs11:?pin-value=1234", "pin-value is refused"},
		{"pkcs11:?module-path=libsofthsm2.so", "absolute"},
		{"pkcs11:?module-name=../x", "bare library name"},
		{"pkcs11:?pin-source=pin.txt", "file:/absolute/path"},
		{"pkcs11:?pin-source=file://host/pin", "remote host"},
		{"pkcs11:?pin-sauce=file:/p", "unknown query attribute"},
		{"pkcs11:token=" + strings.Repeat("a", 5000), "longer than"},
	} {
		_, err := hsm.ParseURI(c.uri)
		if !errors.Is(err, hsm.ErrURI) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v; want ErrURI saying %q", hsm.ParseURIClip(c.uri), err, c.says)
		}
	}
}

func TestReadPIN(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pin")
	os.WriteFile(p, []byte("12 34\r\n"), 0o600)
	u, _ := hsm.ParseURI("pkcs11:?pin-source=file:" + p)
	if pin, err := u.ReadPIN(); err != nil || pin != "12 34" {
		t.Errorf("ReadPIN = %q, %v", pin, err)
	}
	os.Chmod(p, 0o640)
	if _, err := u.ReadPIN(); !errors.Is(err, hsm.ErrPINSource) {
		t.Errorf("a group-readable PIN file was read: %v", err)
	}
}

func TestURIRoundTrip(t *testing.T) {
	for _, s := range uriSeeds {
		roundTrip(t, s)
	}
}

var uriSeeds = []string{
	"pkcs11:token=Fleet%20CA;object=ca;id=%01;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
	"pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
	"pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert",
	"pkcs11:serial=abc;slot-id=0;model=m;manufacturer=x?module-name=softhsm2",
	"pkcs11:",
}

func roundTrip(t *testing.T, s string) {
	u, err := hsm.ParseURI(s)
	if err != nil {
		return
	}
	if len(u.String()) > 4096 {
		return // percent-encoding grew it past the length limit
	}
	again, err := hsm.ParseURI(u.String())
	if err != nil {
		t.Fatalf("%q -> %q: %v", hsm.ParseURIClip(s), hsm.ParseURIClip(u.String()), err)
	}
	if again.String() != u.String() || !bytes.Equal(again.ID, u.ID) || again.Token != u.Token || again.Object != u.Object ||
		again.PinSource != u.PinSource || again.ModulePath != u.ModulePath || again.SlotID != u.SlotID {
		t.Fatalf("%q: %+v, after a round trip %+v", s, u, again)
	}
}

func FuzzParseURI(f *testing.F) {
	for _, s := range uriSeeds {
		f.Add(s)
	}
	f.Add("pkcs11:id=%00%FF;x-a=%20?x-b=c")
	f.Fuzz(func(t *testing.T, s string) { roundTrip(t, s) })
}
