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

// ConditionChecker is a Source that can ask its server whether a condition
// (a resnapshot's WHERE, SQL of the server's dialect) is valid on a table,
// without reading a row: `etlq resnapshot` refuses one the server would
// refuse before it writes the request, as the running apply's check would.
type ConditionChecker interface {
	CheckCondition(ctx context.Context, table TableRef, where string) error
}
