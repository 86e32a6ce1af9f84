package connectors

import (
	"net/url"
	"strings"
)

// DSNPassword returns the password of a scheme://user:password@host… DSN,
// also when url.Parse refuses the DSN (a bad port, an unescaped character),
// so that the errors about such a DSN can still leave it out. It returns ""
// when there is none.
func DSNPassword(dsn string) string {
	if u, err := url.Parse(dsn); err == nil {
		if u.User == nil {
			return ""
		}
		p, _ := u.User.Password()
		return p
	}
	i := strings.Index(dsn, "://")
	if i < 0 {
		return ""
	}
	rest := dsn[i+3:]
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return ""
	}
	_, p, ok := strings.Cut(rest[:at], ":")
	if !ok {
		return ""
	}
	return p
}
