package cli

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"rampart/fleet/cluster/natstest"
	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
)

// TestCheckConfigChecksDatabase: --check-config connects to the database
// and reads its schema version, changing nothing: exit 1 when the database
// cannot be reached or read, or was migrated by a newer build (the server
// would refuse to start on all three); 0 for a missing SQLite file (not
// created) or a current schema; --offline validates the file alone.
func TestCheckConfigChecksDatabase(t *testing.T) {
	dir := t.TempDir()
	check := func(database string, args ...string) (int, string, string) {
		t.Helper()
		cfg := filepath.Join(dir, "server.yaml")
		text := "data_dir: data\n"
		if database != "" {
			text += "database: " + database + "\n"
		}
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return runCLI(t, nil, append([]string{"server", "--config", cfg, "--check-config"}, args...)...)
	}
	dbPath := filepath.Join(dir, "data", "fleet.db")
	if code, out, errs := check(""); code != 0 || !strings.Contains(out, "does not exist yet") {
		t.Fatalf("missing SQLite file: %d %q %q", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Fatalf("--check-config created data_dir or the database: %v", err)
	}
	os.MkdirAll(filepath.Join(dir, "data"), 0o700)
	db, err := store.Open(context.Background(), dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if code, out, errs := check(""); code != 0 || !strings.Contains(out, "(current)") {
		t.Fatalf("current schema: %d %q %q", code, out, errs)
	}
	raw, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO schema_version (version) VALUES (99)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if code, _, errs := check(""); code != ExitFailure || !strings.Contains(errs, "newer than this build") {
		t.Fatalf("newer schema: %d %q", code, errs)
	}
	if code, out, errs := check("", "--offline"); code != 0 || !strings.Contains(out, "not checked (--offline)") {
		t.Fatalf("--offline: %d %q %q", code, out, errs)
	}
	unreachable := "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=5"
	if code, _, errs := check(unreachable); code != ExitFailure || !strings.Contains(errs, "hint: ") {
		t.Fatalf("unreachable PostgreSQL: %d %q", code, errs)
	}
	if code, _, _ := check(unreachable, "--offline"); code != 0 {
		t.Fatalf("unreachable PostgreSQL, --offline: %d", code)
	}
	if os.Getenv(storetest.EnvPostgres) != "" {
		if code, out, errs := check(storetest.PostgresDSN(t)); code != 0 || !strings.Contains(out, "no schema yet") {
			t.Fatalf("empty PostgreSQL schema: %d %q %q", code, out, errs)
		}
	}
}

// TestCheckConfigChecksNATS: with a cluster: section, --check-config also
// reaches the NATS servers, with cluster.auth's credentials, and asks for
// JetStream: exit 0 when one answers, 1 when none does or the credentials
// are refused; --offline checks neither.
func TestCheckConfigChecksNATS(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	nc := natstest.Start(t, 1)
	dir := t.TempDir()
	checkWith := func(natsURL, extra string, args ...string) (int, string, string) {
		t.Helper()
		cfg := filepath.Join(dir, "server.yaml")
		text := "data_dir: data\ndatabase: " + dsn + "\ncluster:\n  node: a\n  nats: [" + natsURL + "]\n" + extra
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return runCLI(t, nil, append([]string{"server", "--config", cfg, "--check-config"}, args...)...)
	}
	check := func(natsURL string, args ...string) (int, string, string) {
		t.Helper()
		return checkWith(natsURL, "", args...)
	}
	if code, out, errs := check(nc.URLs()[0]); code != 0 || !strings.Contains(out, "cluster: node a of rampart; NATS reachable") {
		t.Fatalf("reachable: %d %q %q", code, out, errs)
	}
	// A server requiring a token: the configuration's token file is used,
	// and a wrong token is a refusal that names cluster.auth.
	tok := natstest.StartWith(t, 1, func(o *server.Options) { o.Authorization = "right-token" })
	for _, name := range []string{"right", "wrong"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name+"-token\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if code, out, errs := checkWith(tok.URLs()[0], "  auth:\n    token_file: right\n"); code != 0 || !strings.Contains(out, "NATS reachable") {
		t.Fatalf("right token: %d %q %q", code, out, errs)
	}
	if code, _, errs := checkWith(tok.URLs()[0], "  auth:\n    token_file: wrong\n"); code != ExitFailure || !strings.Contains(errs, "check cluster.auth") {
		t.Fatalf("wrong token: %d %q", code, errs)
	}
	nc.Shutdown()
	if code, _, errs := check(nc.URLs()[0]); code != ExitFailure || !strings.Contains(errs, "unreachable") || !strings.Contains(errs, "hint: ") {
		t.Fatalf("unreachable: %d %q", code, errs)
	}
	if code, out, _ := check(nc.URLs()[0], "--offline"); code != 0 || strings.Contains(out, "cluster:") {
		t.Fatalf("--offline: %d %q", code, out)
	}
}
