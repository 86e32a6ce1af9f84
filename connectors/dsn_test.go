package connectors

import "testing"

func TestDSNPassword(t *testing.T) {
	for dsn, want := range map[string]string{
		"mysql://repl:s3cret@127.0.0.1:3306":        "s3cret",
		"mysql://repl:s3cr3tP@ss@127.0.0.1:3306":    "s3cr3tP@ss",
		"mysql://repl:s3cr3tP@ss@127.0.0.1:notport": "s3cr3tP@ss", // url.Parse refuses it
		"mysql://repl:a%20b@127.0.0.1":              "a b",
		"mysql://repl@127.0.0.1:3306":               "",
		"mysql://127.0.0.1:bad":                     "",
		"not a dsn":                                 "",
	} {
		if got := DSNPassword(dsn); got != want {
			t.Errorf("DSNPassword(%q) = %q, want %q", dsn, got, want)
		}
	}
}
