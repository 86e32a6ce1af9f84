package testenv

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// MySQLConfig is a parsed mysql:// DSN.
type MySQLConfig struct {
	User     string
	Password string
	// Addr is host:port; the port defaults to 3306.
	Addr     string
	Database string
	// Params holds the query parameters (?x=y).
	Params url.Values
}

// ParseMySQLDSN parses "mysql://user:password@host:port/db?x=y". Only the
// host is required; user defaults to "root" and port to 3306. It is for tests:
// the mysql connector has its own parser.
func ParseMySQLDSN(dsn string) (MySQLConfig, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return MySQLConfig{}, fmt.Errorf("invalid mysql dsn %q: %w", redact(dsn), err)
	}
	if u.Scheme != "mysql" && u.Scheme != "mariadb" {
		return MySQLConfig{}, fmt.Errorf("invalid mysql dsn %q: scheme must be \"mysql\"", redact(dsn))
	}
	if u.Hostname() == "" {
		return MySQLConfig{}, fmt.Errorf("invalid mysql dsn %q: no host", redact(dsn))
	}
	c := MySQLConfig{User: "root", Params: u.Query()}
	if u.User != nil {
		if n := u.User.Username(); n != "" {
			c.User = n
		}
		c.Password, _ = u.User.Password()
	}
	port := u.Port()
	if port == "" {
		port = "3306"
	}
	c.Addr = net.JoinHostPort(u.Hostname(), port)
	c.Database = strings.Trim(u.Path, "/")
	if strings.Contains(c.Database, "/") {
		return MySQLConfig{}, fmt.Errorf("invalid mysql dsn %q: path %q is not a database name", redact(dsn), u.Path)
	}
	return c, nil
}

// redact hides a password in a DSN for messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
