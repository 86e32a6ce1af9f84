package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestCheckUnplacedCheckpoint: a checkpoint taken on another server (a
// failover) that this server's binlog cannot place by its GTID — a
// replica that has not replicated it yet — was ok for etlq check, and
// apply then refused it (failover trial). check now fails with apply's
// words; with on_binlog_gap = 'resnapshot' it warns that apply takes a
// new snapshot, and passes.
func TestCheckUnplacedCheckpoint(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	db := checkDB(t, myDSN, map[string]string{"t": "id INT PRIMARY KEY, v INT"})
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	write := func(with string) string {
		file := filepath.Join(dir, "c.etl")
		writeFile(t, file, fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d%s);\nCREATE PIPELINE p FROM binlog s.%s.t INTO stdout;\n", myDSN, testServerID(), with, db))
		return file
	}
	file := write("")
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	// The checkpoint, as another server's whose GTID this one lacks.
	path := filepath.Join(state, "source-s.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var mark map[string]any
	if err := json.Unmarshal(doc["mark"], &mark); err != nil {
		t.Fatal(err)
	}
	mark["server_id"], mark["gtid"] = 4242, "0-4242-999999999"
	if doc["mark"], err = json.Marshal(mark); err != nil {
		t.Fatal(err)
	}
	if raw, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runEtlq(t, "check", "--state-dir", state, file)
	if err == nil || !strings.Contains(out, "was taken on another server (server_id 4242)") || !strings.Contains(out, "cannot be found in this server's binlog") {
		t.Errorf("check of a checkpoint apply cannot place: want it refused as apply does, got %v:\n%s", err, out)
	}
	out, err = runEtlq(t, "check", "--state-dir", state, write(", on_binlog_gap = 'resnapshot'"))
	if err != nil || !strings.Contains(out, "apply takes a new snapshot of the tables read with SNAPSHOT initial") {
		t.Errorf("check with on_binlog_gap = 'resnapshot': want a warning and ok, got %v:\n%s", err, out)
	}
}
