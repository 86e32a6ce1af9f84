package connectors

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
)

// WhereMatcher is a source whose server evaluates a condition of its own
// SQL (the WHERE of a resnapshot, `etlq resnapshot --where`) over rows it
// is given: dead-letter replay asks it which letters' rows fall in a
// range read again after them.
type WhereMatcher interface {
	// MatchWhere returns, for each of rows (a column's name → the text of
	// its value as a dead letter keeps it: format.Text, binary as base64,
	// TIMESTAMP in UTC; a nil or missing value is NULL), whether where
	// holds for it as the server evaluates it on table's columns, typed
	// and collated as cols say (their exec.MetaSourceType and
	// exec.MetaCollation). It does not read the table.
	MatchWhere(ctx context.Context, table TableRef, cols []arrow.Field, where string, rows []map[string]*string) ([]bool, error)
}
