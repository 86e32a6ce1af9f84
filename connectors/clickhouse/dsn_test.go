package clickhouse

import (
	"strings"
	"testing"
)

// TestNewSinkRefusesDSNParameters: a DSN parameter etlq would not honour
// (unknown, misspelt, or one etlq sets from its options) is an error naming
// it, never the password; the parameters it passes on are accepted.
func TestNewSinkRefusesDSNParameters(t *testing.T) {
	for dsn, want := range map[string]string{
		"clickhouse://u:s3cr3tP@h:9000?tls=bogus":                         `unknown DSN parameter "tls"`,
		"clickhouse://u:s3cr3tP@h:9000/db?secur=true":                     `unknown DSN parameter "secur"`,
		"clickhouse://u:s3cr3tP@h:9000?max_block_size=1000":               `unknown DSN parameter "max_block_size"`,
		"clickhouse://u:s3cr3tP@h:9000?compress=zstd":                     `use the sink option compression`,
		"clickhouse://u:s3cr3tP@h:9000?dial_timeout=1s":                   `use the sink option dial_timeout`,
		"clickhouse://u:s3cr3tP@h:9000?max_open_conns=2":                  `use the sink option max_open_conns`,
		"clickhouse://u:s3cr3tP@h:9000?connection_open_strategy=shuffled": `want one of "in_order", "round_robin", "random"`,
		"clickhouse://u:s3cr3tP@h:9000?secure=bogus":                      `secure`,
	} {
		_, err := NewSink("dw", dsn, nil)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: want an error with %q and no password, got %v", dsn, want, err)
		}
	}
	for _, dsn := range []string{
		"clickhouse://u:s3cr3tP@h:9000/db",
		"clickhouse://h:9000?secure=true&skip_verify=true&tls_server_name=ch.example",
		"clickhouse://h:9000?read_timeout=10s&alt_hosts=h2:9000&connection_open_strategy=round_robin&database=x",
	} {
		if _, err := NewSink("dw", dsn, nil); err != nil {
			t.Errorf("%s: %v", dsn, err)
		}
	}
}

// TestDSNEscapedPassword: a password with URL-special characters, escaped
// as ${VAR} expansion escapes it in a DSN's user info, reaches the server
// as itself.
func TestDSNEscapedPassword(t *testing.T) {
	s, err := NewSink("dw", "clickhouse://etl:p%40ss%3Aw%2Frd%23x%25@h:9440?secure=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.chOpts.Auth.Username != "etl" || s.chOpts.Auth.Password != "p@ss:w/rd#x%" {
		t.Errorf("user %q password %q", s.chOpts.Auth.Username, s.chOpts.Auth.Password)
	}
}

// TestDSNUnescapedPasswordRefused: a password written inline with an
// unescaped '@' and then '#', '/' or '?' makes the URL parser take its
// tail for the host, the path or a parameter, and the error quoted it:
// "cannot reach ssword123" (new-user trial). Such a DSN is refused with
// the hint to escape it, quoting nothing of it; '@' in a parameter's
// value stays allowed.
func TestDSNUnescapedPasswordRefused(t *testing.T) {
	for _, dsn := range []string{
		"clickhouse://etl:Raw:P@ssword123#w/rd@localhost:9440?secure=true",
		"clickhouse://etl:P@ssword123/wrd@localhost:9440",
		"clickhouse://etl:P@ssword123?wrd@localhost:9440",
	} {
		_, err := NewSink("dw", dsn, nil)
		if err == nil || !strings.Contains(err.Error(), "must be percent-escaped") || strings.Contains(err.Error(), "ssword123") || strings.Contains(err.Error(), "wrd") {
			t.Errorf("%s: want the escape hint and nothing of the password, got %v", dsn, err)
		}
	}
	if _, err := NewSink("dw", "clickhouse://etl:pw@localhost:9440/db?alt_hosts=a@b:9000", nil); err != nil && strings.Contains(err.Error(), "must be percent-escaped") {
		t.Errorf("an '@' in a parameter's value: %v", err)
	}
}
