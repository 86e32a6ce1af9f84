package exec_test

import (
	"strings"
	"testing"

	"github.com/etlq/etlq/exec"
)

// TestRowErrorText: a row error names the pipeline, table, position,
// operation, key, column, value and reason it knows, and the row's index
// in its batch only when it knows nothing else; a value is quoted and
// shortened.
func TestRowErrorText(t *testing.T) {
	for _, tc := range []struct {
		e    exec.RowError
		want string
	}{
		{exec.RowError{Row: 3, Column: "qty", Reason: "bad"}, `row 3: column "qty": bad`},
		{exec.RowError{Row: 3, Column: "d", Reason: "date 0000-00-00 is outside", Pipeline: "p", Table: "shop.orders",
			Op: "insert", Pos: "mysql-bin.000003:1234", Key: "id = 42", Value: exec.QuoteValue("0000-00-00")},
			`pipeline p: row of shop.orders at mysql-bin.000003:1234 (insert, id = 42): column "d" = '0000-00-00': date 0000-00-00 is outside`},
		{exec.RowError{Column: "WHERE", Reason: "r", Table: "a.b", Pos: "snapshot"}, `row of a.b at snapshot: column "WHERE": r`},
		// A row an http endpoint refused whole has no column: no `column ""`
		// (new-user trial).
		{exec.RowError{Reason: "the endpoint refused the row: 422 Unprocessable Entity: no", Pipeline: "hook", Table: "zoo.t", Op: "read", Key: "id = 3"},
			`pipeline hook: row of zoo.t (snapshot, id = 3): the endpoint refused the row: 422 Unprocessable Entity: no`},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
	if got := exec.QuoteValue("it's"); got != `'it''s'` {
		t.Errorf("quote: %s", got)
	}
	long := exec.QuoteValue(strings.Repeat("é", 100))
	if want := "'" + strings.Repeat("é", exec.ValueLimit) + "… (200 bytes)'"; long != want {
		t.Errorf("shortened: %s, want %s", long, want)
	}
}
