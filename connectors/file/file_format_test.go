package file

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFormatOfFile: the format of a file's rows is told from its first
// lines, and a file of another format than the target's is refused.
func TestFormatOfFile(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ text, want string }{
		{"", ""},
		{`{"id":1,"v":"a"}` + "\n", "jsonl"},
		{`{"before":null,"after":{"id":1},"source":{},"op":"r","ts_ms":1}` + "\n", "debezium_json"},
		{`{"data":[{"id":"1"}],"database":"d","table":"t","type":"INSERT","isDdl":false}` + "\n", "canal_json"},
		{`{"id":` + strings.Repeat("1", 70<<10), "json"},
		{"id,v\r\n1,a\r\n", "csv"},
		{" id | v \n----+---\n  1 | a\n", "table"},
	} {
		path := filepath.Join(dir, "f")
		if err := os.WriteFile(path, []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := formatOfFile(path); err != nil || got != c.want {
			t.Errorf("%.40q: got %q, %v, want %q", c.text, got, err, c.want)
		}
	}
	if got, err := formatOfFile(filepath.Join(dir, "none")); got != "" || err != nil {
		t.Errorf("a missing file: %q, %v", got, err)
	}
	path := filepath.Join(dir, "rows")
	os.WriteFile(path, []byte(`{"id":1}`+"\n"), 0o644)
	if err := checkExisting(&config{path: path, format: "csv"}); err == nil || !strings.Contains(err.Error(), "move or rename the existing file") {
		t.Errorf("csv over jsonl: %v", err)
	}
	if err := checkExisting(&config{path: path, format: "jsonl"}); err != nil {
		t.Errorf("jsonl over jsonl: %v", err)
	}
}
