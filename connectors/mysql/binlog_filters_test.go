package mysql

import (
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors"
)

// TestCheckBinlogFilters: a streamed table (or a pattern of a named
// database) of a database binlog_do_db does not list or binlog_ignore_db
// lists is refused, naming it; SNAPSHOT only is not (no binlog read); any
// filter otherwise gets the WARN of DDL; no filter, nothing.
func TestCheckBinlogFilters(t *testing.T) {
	req := func(db string, mode connectors.SnapshotMode, pattern bool) connectors.StreamRequest {
		if pattern {
			return connectors.StreamRequest{Patterns: []connectors.StreamPattern{{DB: db, Table: "*", Snapshot: mode}}}
		}
		return connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: connectors.TableRef{DB: db, Table: "t"}, Snapshot: mode}}}
	}
	for _, c := range []struct {
		do, ignore []string
		r          connectors.StreamRequest
		err, warn  string
	}{
		{nil, nil, req("shop", connectors.SnapshotInitial, false), "", ""},
		{nil, []string{"shop"}, req("shop", connectors.SnapshotInitial, false), "the database of shop.t out of its binary log (binlog_ignore_db = shop in its my.cnf)", ""},
		{[]string{"app", "crm"}, nil, req("shop", connectors.SnapshotNever, false), "(binlog_do_db = app,crm in its my.cnf)", ""},
		{[]string{"app"}, nil, req("shop", connectors.SnapshotInitial, true), "the database of shop.* out", ""},
		{nil, []string{"shop"}, req("shop", connectors.SnapshotOnly, false), "", "binlog_ignore_db = shop"},
		{[]string{"shop"}, []string{"mysql"}, req("shop", connectors.SnapshotInitial, false), "", "(binlog_do_db = shop, binlog_ignore_db = mysql): a DDL is logged only"},
		{[]string{"app"}, nil, req("sh*", connectors.SnapshotInitial, true), "", "binlog_do_db = app"},
	} {
		warn, err := checkBinlogFilters(c.do, c.ignore, c.r)
		if got := ""; err != nil {
			got = err.Error()
			if c.err == "" || !strings.Contains(got, c.err) {
				t.Errorf("%v %v %+v: error %q, want %q", c.do, c.ignore, c.r, got, c.err)
			}
		} else if c.err != "" {
			t.Errorf("%v %v %+v: no error, want %q", c.do, c.ignore, c.r, c.err)
		}
		if err == nil && (c.warn == "") != (warn == "") || c.warn != "" && !strings.Contains(warn, c.warn) {
			t.Errorf("%v %v %+v: warn %q, want %q", c.do, c.ignore, c.r, warn, c.warn)
		}
	}
}
