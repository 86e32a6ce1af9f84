package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// objectKeys returns the keys of the JSON object raw, in their order.
func objectKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestDebeziumSourceBlockAsDebezium2: debezium_json's envelope and source
// block have the fields of Debezium's MySQL connector 2.6 and later, in
// its order, for a snapshot and a binlog record: source.version is the
// build's version (`etlq version`; it was "etlq"), ts_us and ts_ns beside
// each ts_ms and agreeing with it, sequence null, thread null (MariaDB's
// binlog names no session: it writes no BEGIN event), query null,
// transaction null (Debezium's default). Both servers.
func TestDebeziumSourceBlockAsDebezium2(t *testing.T) {
	t.Parallel()
	version := strings.Fields(mustEtlq(t, "version"))[1]
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my := s.db, s.my
		myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v INT)", "INSERT INTO "+db+".t VALUES (1, 10)")
		dir := t.TempDir()
		out, state := filepath.Join(dir, "out.json"), filepath.Join(dir, "state")
		file := writeEtl(t, dir, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE PIPELINE p FROM binlog s.%s.t INTO file '%s' FORMAT debezium_json;
`, myDSN, db, out))
		mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		myExec(t, my, "INSERT INTO "+db+".t VALUES (2, 20)")
		mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		lines := readLines(t, out)
		if len(lines) != 2 {
			t.Fatalf("want a snapshot and a binlog record, got:\n%s", strings.Join(lines, "\n"))
		}
		wantTop := []string{"before", "after", "source", "transaction", "op", "ts_ms", "ts_us", "ts_ns"}
		wantSource := []string{"version", "connector", "name", "ts_ms", "snapshot", "db", "sequence", "ts_us", "ts_ns",
			"table", "server_id", "gtid", "file", "pos", "row", "thread", "query"}
		for i, l := range lines {
			var ev struct {
				Source      json.RawMessage
				Transaction json.RawMessage
				Op          string
				TsMs        int64 `json:"ts_ms"`
				TsUs        int64 `json:"ts_us"`
				TsNs        int64 `json:"ts_ns"`
			}
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatal(err)
			}
			if keys := objectKeys(t, []byte(l)); !slices.Equal(keys, wantTop) {
				t.Errorf("record %d: fields %v, want %v", i, keys, wantTop)
			}
			if keys := objectKeys(t, ev.Source); !slices.Equal(keys, wantSource) {
				t.Errorf("record %d: source fields %v, want %v", i, keys, wantSource)
			}
			var src struct {
				Version, Connector, Name, Snapshot string
				TsMs                               int64 `json:"ts_ms"`
				TsUs                               int64 `json:"ts_us"`
				TsNs                               int64 `json:"ts_ns"`
				Sequence, Thread, Query            *json.RawMessage
				ServerID                           uint32 `json:"server_id"`
			}
			if err := json.Unmarshal(ev.Source, &src); err != nil {
				t.Fatal(err)
			}
			if src.Version != version || src.Connector != "mysql" || src.Name != "p" {
				t.Errorf("record %d: version %q, connector %q, name %q; want %q, mysql, p", i, src.Version, src.Connector, src.Name, version)
			}
			if src.TsUs/1000 != src.TsMs || src.TsNs/1000 != src.TsUs || src.TsMs == 0 {
				t.Errorf("record %d: source ts_ms %d, ts_us %d, ts_ns %d do not agree", i, src.TsMs, src.TsUs, src.TsNs)
			}
			if ev.TsUs/1000 != ev.TsMs || ev.TsNs/1000 != ev.TsUs || ev.TsMs < src.TsMs {
				t.Errorf("record %d: ts_ms %d, ts_us %d, ts_ns %d do not agree (or come before the source's %d)", i, ev.TsMs, ev.TsUs, ev.TsNs, src.TsMs)
			}
			if src.Sequence != nil || src.Thread != nil || src.Query != nil || string(ev.Transaction) != "null" {
				t.Errorf("record %d: want sequence, thread, query and transaction null: %s", i, l)
			}
			if want := []string{"r", "c"}[i]; ev.Op != want || (i == 1) != (src.ServerID != 0) {
				t.Errorf("record %d: op %q, server_id %d; want %s, a binlog record's server id", i, ev.Op, src.ServerID, want)
			}
		}
	})
}
