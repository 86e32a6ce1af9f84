package connectors

import "context"

// DatabaseLister is a Source that can list the databases its user can
// read, the server's own schemas left out, and say which one its DSN
// names: the REPL's SHOW TABLES, DESCRIBE and completion use it instead of
// knowing the source's kind.
type DatabaseLister interface {
	Databases(ctx context.Context) ([]string, error)
	// DSNDatabase is the database the DSN names, "" when it names none.
	DSNDatabase() string
}
