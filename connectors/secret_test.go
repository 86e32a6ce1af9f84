package connectors

import (
	"bytes"
	"strings"
	"testing"
)

// TestRedactSecrets: registered secrets (and their URL-escaped forms) and
// anything shaped like credentials in a DSN or URL are hidden in free text;
// what only looks similar is left alone.
func TestRedactSecrets(t *testing.T) {
	RegisterSecret("Tok-9f8e7d")
	RegisterSecret("p@ss:w/rd#x")
	RegisterSecret("ab") // too short to be hidden everywhere
	for in, want := range map[string]string{
		`source src (root:hunter2@tcp(127.0.0.1:3306)/db): invalid mysql dsn`: `source src (root:****@tcp(127.0.0.1:3306)/db): invalid mysql dsn`,
		`parse "mysql://etl2:p@ss:w/rd": invalid port ":w" after host`:        `parse "mysql://etl2:****@ss:w/rd": invalid port ":w" after host`,
		`dial mysql://etl2:p%40ss%3Aw%2Frd%23x@127.0.0.1:3316 failed`:         `dial mysql://etl2:****@127.0.0.1:3316 failed`,
		`clickhouse://default:s3cr3t@[::1]:9000/db`:                           `clickhouse://default:****@[::1]:9000/db`,
		`header Authorization: Bearer Tok-9f8e7d refused`:                     `header Authorization: Bearer **** refused`,
		`https://h/x?token=abc123&v=1 and ?password=zz`:                       `https://h/x?token=****&v=1 and ?password=****`,
		`mail me at someone@example.com at 10:04:05`:                          `mail me at someone@example.com at 10:04:05`,
		`mysql://user:password@host:port/db is the form`:                      `mysql://user:password@host:port/db is the form`,
		`already mysql://u:****@h and mysql://u:*******@h`:                    `already mysql://u:****@h and mysql://u:*******@h`,
		`about ab and abc`: `about ab and abc`,
		`f.etl:1:45: environment variable "PW" is not set` + "\n" + `mysql://root:${PW}@127.0.0.1:3316`: `f.etl:1:45: environment variable "PW" is not set` + "\n" + `mysql://root:${PW}@127.0.0.1:3316`,
		`source mysql://root@127.0.0.1:3316 and https://bot@h/x`:                                        `source mysql://root@127.0.0.1:3316 and https://bot@h/x`,
	} {
		if got := RedactSecrets(in); got != want {
			t.Errorf("RedactSecrets(%q)\n = %q\nwant %q", in, got, want)
		}
	}
	RegisterSecret(`q"uo\te<d`)
	for _, in := range []string{`{"err":"login q\"uo\\te\u003cd refused"}`, `{"err":"login q\"uo\\te<d refused"}`, `password "q\"uo\\te<d" refused`} {
		if got := RedactSecrets(in); strings.Contains(got, "uo") {
			t.Errorf("a quoted secret is shown: %s", got)
		}
	}
	var buf bytes.Buffer
	w := RedactingWriter(&buf)
	msg := "level=WARN msg=\"retry\" err=\"connect as etl: Tok-9f8e7d\"\n"
	if n, err := w.Write([]byte(msg)); err != nil || n != len(msg) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if strings.Contains(buf.String(), "Tok-9f8e7d") || !strings.Contains(buf.String(), "****") {
		t.Errorf("RedactingWriter wrote %q", buf.String())
	}
}
