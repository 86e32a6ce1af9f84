package mysql

import (
	"strings"
	"testing"
)

// TestParseDSNErrorHidesPassword: the error about a DSN that does not parse
// quotes the DSN, without its password.
func TestParseDSNErrorHidesPassword(t *testing.T) {
	_, err := ParseDSN("mysql://repl:s3cr3tP@ss@127.0.0.1:notaport")
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "notaport") {
		t.Errorf("want an error naming the port without the password, got %v", err)
	}
}
