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

// TestParseDSNRefusesParameters: etlq honours no DSN parameter, so a
// parameter (tls, a misspelt one) is an error naming it, never the
// password or the parameter's value.
func TestParseDSNRefusesParameters(t *testing.T) {
	for _, dsn := range []string{
		"mysql://u:s3cr3tP@h:3306?tls=bogus",
		"mysql://u:s3cr3tP@h:3306/shop?tls=true",
		"mysql://u:s3cr3tP@h:3306?sever_id=7",
		"mysql://u:s3cr3tP@h:3306?password=an0ther",
		"mysql://u:s3cr3tP@h:3306?",
	} {
		_, err := ParseDSN(dsn)
		if err == nil {
			t.Errorf("%s: want an error", dsn)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "s3cr3t") || strings.Contains(msg, "an0ther") || strings.Contains(msg, "bogus") {
			t.Errorf("%s: the error shows a secret or a value: %s", dsn, msg)
		}
		if _, name, ok := strings.Cut(dsn, "?"); ok && name != "" {
			name, _, _ = strings.Cut(name, "=")
			if !strings.Contains(msg, `"`+name+`"`) {
				t.Errorf("%s: the error does not name %q: %s", dsn, name, msg)
			}
		}
	}
	c, err := ParseDSN("mysql://u:p%3Fw@h:3307/shop")
	if err != nil || c.Password != "p?w" || c.DB != "shop" || c.Port != 3307 {
		t.Errorf("a DSN without parameters: %+v, %v", c, err)
	}
}

// TestParseDSNUnescapedPasswordRefused: a password written inline with an
// unescaped '@' and then '/' or '?' made the URL parser take its tail for
// the host or a parameter, and errors quoted it ("connect to mysql
// ssword123:3306", "unknown parameter \"wrd@localhost:3306\"", new-user
// trial). Such a DSN is refused with the hint to escape it, quoting
// nothing of it; '@' in a parameter's value stays allowed.
func TestParseDSNUnescapedPasswordRefused(t *testing.T) {
	for _, dsn := range []string{
		"mysql://etl:Raw:P@ssword123/wrd@localhost:3306",
		"mysql://etl:P@ssword123?wrd@localhost:3306",
	} {
		_, err := ParseDSN(dsn)
		if err == nil || !strings.Contains(err.Error(), "must be percent-escaped") || strings.Contains(err.Error(), "ssword123") || strings.Contains(err.Error(), "wrd") {
			t.Errorf("%s: want the escape hint and nothing of the password, got %v", dsn, err)
		}
	}
	if _, err := ParseDSN("mysql://etl:pw@localhost:3306?ssl_mode=verify_ca&ssl_ca=/etc/a@b/ca.pem"); err != nil {
		t.Errorf("an '@' in a parameter's value: %v", err)
	}
}
