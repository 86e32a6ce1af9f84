package clickhouse

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// dsnParams are the DSN parameters etlq passes on to clickhouse-go, with
// the values they take (nil: any that clickhouse-go accepts; it checks
// booleans and durations itself).
var dsnParams = map[string][]string{
	"secure":                   nil,
	"skip_verify":              nil,
	"tls_server_name":          nil,
	"read_timeout":             nil,
	"alt_hosts":                nil,
	"connection_open_strategy": {"in_order", "round_robin", "random"},
	"username":                 nil,
	"password":                 nil,
	"database":                 nil,
}

// dsnParamOptions are DSN parameters clickhouse-go knows that etlq sets
// from the sink's WITH options instead: in the DSN they would be
// overridden without a word.
var dsnParamOptions = map[string]string{
	"compress":       "compression",
	"compress_level": "compression",
	"dial_timeout":   "dial_timeout",
	"max_open_conns": "max_open_conns",
	"max_idle_conns": "max_open_conns",
}

// checkDSNParams refuses DSN parameters etlq would not honour. clickhouse-go
// sends a parameter it does not know to the server as a query setting
// (?tls=bogus fails every query with "query setting tls has unsupported data
// type"), and etlq overrides some it does know: either way the DSN would not
// mean what it says. Errors name the parameter, never a value (the password
// may be one).
func checkDSNParams(dsn string) error {
	_, raw, ok := strings.Cut(dsn, "?")
	if !ok {
		return nil
	}
	raw, _, _ = strings.Cut(raw, "#")
	q, err := url.ParseQuery(raw)
	if err != nil {
		return fmt.Errorf("the part after '?' is not a list of parameters")
	}
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if opt, ok := dsnParamOptions[k]; ok {
			return fmt.Errorf("DSN parameter %q: use the sink option %s instead (WITH (%s = …))", k, opt, opt)
		}
		allowed, ok := dsnParams[k]
		if !ok {
			return fmt.Errorf("unknown DSN parameter %q (etlq takes %s)", k, strings.Join(dsnParamNames(), ", "))
		}
		if allowed == nil {
			continue
		}
		valid := false
		for _, a := range allowed {
			valid = valid || q.Get(k) == a
		}
		if !valid {
			return fmt.Errorf("DSN parameter %q: want one of %s, got %s", k, strings.Join(quoteAll(allowed), ", "), strconv.Quote(q.Get(k)))
		}
	}
	return nil
}

func dsnParamNames() []string {
	out := make([]string, 0, len(dsnParams))
	for k := range dsnParams {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}
