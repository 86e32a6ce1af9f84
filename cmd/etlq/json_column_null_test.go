package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestJSONColumnNullApartFromSQLNull: a JSON column whose document is JSON
// null ('null') and one that is SQL NULL must reach every JSON format as
// different values. jsonl embedded a JSON column as JSON, so both were
// null (and a stored text that is no JSON became a string, as the JSON
// string of the same text did). A JSON column is now a JSON string of its
// text in jsonl (file, stdout and http), as canal_json and debezium_json
// write it: 'null' is "null", SQL NULL is null, and a document that spans
// lines stays on one line of jsonl. Snapshot and binlog rows, on both
// servers.
func TestJSONColumnNullApartFromSQLNull(t *testing.T) {
	t.Parallel()
	onBothServers(t, testJSONColumnNullApartFromSQLNull)
}

func testJSONColumnNullApartFromSQLNull(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my := s.db, s.my
	// The documents, by id offset; nil is SQL NULL.
	docs := []*string{ptr("null"), nil, ptr(`"null"`), ptr(`{"a": null}`),
		ptr("{\"a\":\n1,\t\"b\" : [1 ,\r\n2], \"s\": \"x\\ny \"}  \n"), ptr("1E2"), ptr("[]")}
	myExec(t, my,
		"CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, j JSON)")
	insert := func(base int) {
		for i, d := range docs {
			v := "NULL"
			if d != nil {
				v = "'" + strings.NewReplacer(`\`, `\\`, "'", "''").Replace(*d) + "'"
			}
			myExec(t, my, fmt.Sprintf("INSERT INTO %s.t VALUES (%d, %s)", db, base+i, v))
		}
	}
	insert(1)

	var mu sync.Mutex
	var posted bytes.Buffer
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		posted.Write(b)
		mu.Unlock()
	}))
	defer hook.Close()

	dir := t.TempDir()
	out := func(name string) string { return filepath.Join(dir, name) }
	file := out("j.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s';
CREATE PIPELINE f FROM binlog s.%[2]s.t TRANSFORM id, j INTO file '%[3]s';
CREATE PIPELINE o FROM binlog s.%[2]s.t TRANSFORM id, j INTO stdout FORMAT jsonl;
CREATE PIPELINE h FROM binlog s.%[2]s.t TRANSFORM id, j INTO http '%[4]s/rows' FORMAT jsonl;
CREATE PIPELINE c FROM binlog s.%[2]s.t TRANSFORM id, j INTO file '%[5]s' FORMAT canal_json;
CREATE PIPELINE d FROM binlog s.%[2]s.t TRANSFORM id, j INTO file '%[6]s' FORMAT debezium_json;
`, myDSN, db, out("t.jsonl"), hook.URL, out("c.json"), out("d.json"))
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	state := out("state")
	stdout1, err := runEtlqStdout(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	insert(101) // through the binlog
	stdout2, err := runEtlqStdout(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(out(name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	mu.Lock()
	httpText := posted.String()
	mu.Unlock()

	// check decodes the lines of text as JSON and hands each to pick,
	// which returns the rows (id and j's raw JSON) a line holds.
	check := func(name, text string, pick func(line []byte) (map[int]json.RawMessage, error)) {
		got := map[int]json.RawMessage{}
		for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
			rows, err := pick([]byte(line))
			if err != nil {
				t.Errorf("%s: line %q: %v", name, line, err)
				continue
			}
			for id, j := range rows {
				got[id] = j
			}
		}
		for _, base := range []int{1, 101} {
			for i, d := range docs {
				want := "null"
				if d != nil {
					b, _ := json.Marshal(*d)
					want = string(b)
				}
				if g := string(got[base+i]); g != want {
					t.Errorf("%s: row %d: j is %s, want %s", name, base+i, g, want)
				}
			}
		}
	}
	type row struct {
		ID json.RawMessage `json:"id"`
		J  json.RawMessage `json:"j"`
	}
	id := func(raw json.RawMessage) int {
		var n int
		json.Unmarshal(bytes.Trim(raw, `"`), &n)
		return n
	}
	jsonl := func(line []byte) (map[int]json.RawMessage, error) {
		var r row
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, err
		}
		return map[int]json.RawMessage{id(r.ID): r.J}, nil
	}
	check("file jsonl", read("t.jsonl"), jsonl)
	check("stdout jsonl", stdout1+stdout2, jsonl)
	// http posts each batch's rows as one JSON array.
	var lines []string
	dec := json.NewDecoder(strings.NewReader(httpText))
	for {
		var batch []json.RawMessage
		if err := dec.Decode(&batch); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("http: %v in %q", err, httpText)
		}
		for _, r := range batch {
			lines = append(lines, string(r))
		}
	}
	check("http jsonl", strings.Join(lines, "\n"), jsonl)
	check("canal_json", read("c.json"), func(line []byte) (map[int]json.RawMessage, error) {
		var m struct{ Data []row }
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, err
		}
		rows := map[int]json.RawMessage{}
		for _, r := range m.Data {
			rows[id(r.ID)] = r.J
		}
		return rows, nil
	})
	check("debezium_json", read("d.json"), func(line []byte) (map[int]json.RawMessage, error) {
		var m struct{ After row }
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, err
		}
		return map[int]json.RawMessage{id(m.After.ID): m.After.J}, nil
	})
}

func ptr(s string) *string { return &s }

// runEtlqStdout runs the binary and returns its standard output alone; the
// error carries standard error.
func runEtlqStdout(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(etlqBin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%v\n%s", err, stderr.String())
	}
	return string(out), nil
}
