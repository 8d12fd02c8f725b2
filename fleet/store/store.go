package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver

	"rampart/internal/secfile"
)

// Errors returned by the store; callers classify with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: conflicting state")
)

// Dialect is the SQL flavour of the database behind a DB.
type Dialect string

// The two supported databases.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is the fleet store. It is safe for concurrent use.
type DB struct {
	sql *sql.DB
	// rd serves the enrollment path's point reads (DeviceByInstance,
	// Release). For SQLite it is a second pool of read-only connections:
	// the single writing connection is held by each group commit through
	// its sync, and reads queued behind it kept enrollments from joining
	// the next batch. WAL readers see the last committed state and never
	// block the writer. For PostgreSQL it is sql.
	rd      *sql.DB
	dialect Dialect
	now     func() time.Time

	enrollGroup enrollGroup // RecordEnrollment's group commit

	stmts     map[string]*sql.Stmt // preparedQueries by query text; read-only after Open
	readStmts map[string]*sql.Stmt // readQueries, prepared on rd

	relCache releaseCache // registered releases by digest (Release)

	// schemaVersion and schemaCompatFrom are the database's schema when
	// it was opened and migrated (Schema, schema.go).
	schemaVersion, schemaCompatFrom int
}

// Options configure Open.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// SQLiteSynchronous is SQLite's synchronous setting in WAL mode:
	// "FULL" (the default) syncs the log on every commit, so a committed
	// (and so acknowledged) transaction survives a power cut; "NORMAL"
	// survives a process crash (kill -9) but may lose the last
	// transactions on a power cut or OS crash. Ignored for PostgreSQL.
	SQLiteSynchronous string
}

// ErrOption: an Options field has a value Open does not accept.
var ErrOption = errors.New("store: bad option")

// Open opens (creating if needed) the database named by dsn and applies the
// migrations. A dsn starting with "postgres://" or "postgresql://" selects
// PostgreSQL; anything else is a SQLite file path (":memory:" is refused:
// every pooled connection would see its own database).
func Open(ctx context.Context, dsn string, o Options) (*DB, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	var (
		db      *sql.DB
		d       Dialect
		err     error
		readDSN string // SQLite: the read-only pool
	)
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		d = Postgres
		db, err = sql.Open("pgx", dsn)
		if err == nil {
			// As many idle connections as open ones: with database/sql's
			// default of 2 idle, a burst of enrollments closed and reopened
			// connections (TCP, startup, authentication, and preparing the
			// statements again) all the time.
			db.SetMaxOpenConns(16)
			db.SetMaxIdleConns(16)
		}
	case dsn == "" || dsn == ":memory:":
		return nil, fmt.Errorf("store: dsn: need a file path or a postgres:// URL, got %q", dsn)
	default:
		d = SQLite
		// WAL keeps readers off the writer's back; synchronous=FULL (the
		// default) makes every commit durable before it returns, which is
		// what an acknowledged telemetry batch or a recorded certificate
		// promises. temp_store=MEMORY keeps the statement journal of a
		// multi-row INSERT in memory (it only serves rolling back that
		// statement inside its transaction; durability is the WAL's).
		syncMode := strings.ToUpper(o.SQLiteSynchronous)
		switch syncMode {
		case "":
			syncMode = "FULL"
		case "FULL", "NORMAL", "EXTRA":
		default:
			return nil, fmt.Errorf("%w: sqlite synchronous %q: want FULL, NORMAL or EXTRA", ErrOption, o.SQLiteSynchronous)
		}
		if err := secureSQLiteFiles(dsn); err != nil {
			return nil, err
		}
		q := "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(" + syncMode + ")&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)&_txlock=immediate"
		db, err = sql.Open("sqlite", "file:"+dsn+q)
		if err == nil {
			// One writer at a time is SQLite's model; a single pooled
			// connection avoids SQLITE_BUSY storms under load.
			db.SetMaxOpenConns(1)
		}
		readDSN = "file:" + dsn + "?_pragma=busy_timeout(10000)&_pragma=query_only(1)"
	}
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	s := &DB{sql: db, rd: db, dialect: d, now: o.Now}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if readDSN != "" { // after migrating: the file is in WAL mode now
		if s.rd, err = sql.Open("sqlite", readDSN); err != nil {
			db.Close()
			return nil, fmt.Errorf("store: open readers: %w", err)
		}
		s.rd.SetMaxOpenConns(maxSQLiteReaders)
		s.rd.SetMaxIdleConns(maxSQLiteReaders)
	}
	if err := s.prepare(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	return s, nil
}

// secureSQLiteFiles makes the database file (creating it empty if needed)
// and its -wal, -shm and -journal files 0600 before SQLite opens them: they
// hold device identities, telemetry and campaign state. SQLite creates its
// side files with the database file's mode, so a 0600 database keeps them
// 0600; the ones left by an older version with a looser mode are tightened.
// The file is opened read-only: a database the process may not write stays
// a matter for Open to report.
func secureSQLiteFiles(path string) error {
	f, err := secfile.OpenFile(path, os.O_RDONLY|os.O_CREATE)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	f.Close()
	for _, side := range []string{"-wal", "-shm", "-journal"} {
		if err := secfile.Tighten(path + side); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	return nil
}

// maxSQLiteReaders bounds the read-only connections (each has its own
// page cache).
const maxSQLiteReaders = 4

func (s *DB) closeDBs() error {
	var err error
	if s.rd != nil && s.rd != s.sql { // a DB built without Open has no rd
		err = s.rd.Close()
	}
	return errors.Join(s.sql.Close(), err)
}

// Dialect reports which database is behind s.
func (s *DB) Dialect() Dialect { return s.dialect }

// PoolSize is how many connections the store opens at most for its reads
// and writes (16 on PostgreSQL, 1 on SQLite): the broker sizes its
// authentication bound below it (broker.Config.MaxAuthentications).
func (s *DB) PoolSize() int { return s.sql.Stats().MaxOpenConnections }

// Close closes the database.
func (s *DB) Close() error {
	s.closeStmts()
	return s.closeDBs()
}

// Ping checks the database answers.
func (s *DB) Ping(ctx context.Context) error { return s.sql.PingContext(ctx) }

// CheckWritable commits a write that changes nothing (the schema version
// set to itself): it fails where every real write would, on a read-only
// SQLite file or file system, a full disk, or a PostgreSQL server or
// transaction that is read-only. It costs one commit; callers should not
// run it more than every few seconds.
func (s *DB) CheckWritable(ctx context.Context) error {
	return s.tx(ctx, func(t *sql.Tx) error {
		_, err := s.exec(ctx, t, `UPDATE schema_version SET version = version WHERE version = (SELECT MAX(version) FROM schema_version)`)
		if err != nil {
			return fmt.Errorf("store: write check: %w", err)
		}
		return nil
	})
}

// q rewrites ?-placeholders to $n for PostgreSQL.
func (s *DB) q(query string) string {
	if s.dialect != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

func (s *DB) exec(ctx context.Context, x execer, query string, args ...any) (sql.Result, error) {
	return x.ExecContext(ctx, s.q(query), args...)
}

// preparedQueries are the statements every enrollment writes, prepared once
// at Open: unprepared, SQLite parsed and planned each of them anew (a tenth
// of the server's CPU per enrollment in the profile). They are prepared
// before any transaction exists because SQLite has one pooled connection:
// preparing on the pool while a transaction holds it would wait forever.
// database/sql re-prepares a statement on each further pooled connection
// (PostgreSQL) the first time it runs there, on that connection.
func preparedQueries() []string {
	return append([]string{qInsertCert, qSupersedeCerts, qInsertAudit, qUseNonce, qRenewActive}, activateQuery[1:]...)
}

// readQueries are prepared on the read pool (rd).
var readQueries = []string{qDeviceByInstance, qRelease}

// prepare prepares preparedQueries and readQueries; Open calls it after
// migrating.
func (s *DB) prepare(ctx context.Context) error {
	s.stmts = map[string]*sql.Stmt{}
	s.readStmts = map[string]*sql.Stmt{}
	for _, set := range []struct {
		db *sql.DB
		qs []string
		m  map[string]*sql.Stmt
	}{{s.sql, preparedQueries(), s.stmts}, {s.rd, readQueries, s.readStmts}} {
		for _, q := range set.qs {
			st, err := set.db.PrepareContext(ctx, s.q(q))
			if err != nil {
				s.closeStmts()
				return fmt.Errorf("store: prepare %q: %w", q, err)
			}
			set.m[q] = st
		}
	}
	return nil
}

func (s *DB) closeStmts() {
	for _, m := range []map[string]*sql.Stmt{s.stmts, s.readStmts} {
		for q, st := range m {
			st.Close()
			delete(m, q)
		}
	}
}

// readRow runs one of readQueries on the read pool. On SQLite the query
// does not watch ctx: it is an indexed point read of microseconds, which an
// interrupt could not usefully shorten, and with a context that can be done
// (an HTTP request's) the driver starts a goroutine to watch it for every
// query.
func (s *DB) readRow(ctx context.Context, query string, args ...any) *sql.Row {
	if s.dialect == SQLite {
		ctx = context.WithoutCancel(ctx)
	}
	if st := s.readStmts[query]; st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	if s.rd == nil { // a DB built without Open
		return s.sql.QueryRowContext(ctx, s.q(query), args...)
	}
	return s.rd.QueryRowContext(ctx, s.q(query), args...)
}

// stmt returns the prepared form of query, bound to t when t is not nil
// (reusing the statement already prepared on t's connection; closed with
// t), or nil when query is not among preparedQueries.
func (s *DB) stmt(ctx context.Context, t *sql.Tx, query string) *sql.Stmt {
	st := s.stmts[query]
	if st != nil && t != nil {
		st = t.StmtContext(ctx, st)
	}
	return st
}

// execPrepared runs query inside t, or on its own when t is nil, prepared
// when it is one of preparedQueries.
func (s *DB) execPrepared(ctx context.Context, t *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := s.stmt(ctx, t, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	if t != nil {
		return t.ExecContext(ctx, s.q(query), args...)
	}
	return s.sql.ExecContext(ctx, s.q(query), args...)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// ms converts a time to the stored form: Unix milliseconds (0 for the zero time).
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS is the inverse of ms.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// tx runs f in a transaction and commits it.
func (s *DB) tx(ctx context.Context, f func(*sql.Tx) error) error {
	t, err := s.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := f(t); err != nil {
		t.Rollback()
		return err
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}
