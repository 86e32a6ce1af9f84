package clickhouse

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
)

// TestMissingGrants: a user whose profile is readonly lacks INSERT,
// CREATE and ALTER, one with allow_ddl = 0 lacks CREATE and ALTER, and the
// default user lacks nothing; each is named with how to grant it. The
// users are the clickhouse-tls server's (scripts/services).
func TestMissingGrants(t *testing.T) {
	dsn := testenv.ClickHouseTLSDSN(t)
	certs := testenv.TLSCerts(t)
	targets := []connectors.Target{{Pipeline: "p", Name: "analytics.orders"}, {Pipeline: "q", Name: "analytics.items"}}
	for user, want := range map[string][]string{
		"etlq_readonly": {"INSERT ON `analytics`.*", "CREATE ON `analytics`.*", "ALTER ON `analytics`.*"},
		"etlq_noddl":    {"CREATE ON `analytics`.*", "ALTER ON `analytics`.*"},
		"default":       nil,
	} {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.User(user)
		s, err := NewSink("dw", u.String(), map[string]any{"tls_ca": certs.CA})
		if err != nil {
			t.Fatal(err)
		}
		gs, err := s.MissingGrants(context.Background(), targets)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, g := range gs {
			got = append(got, g.Privilege)
			if !strings.Contains(g.String(), "user '"+user+"' lacks "+g.Privilege) || !strings.Contains(g.String(), "GRANT "+g.Privilege+" TO '"+user+"';") {
				t.Errorf("%s: %s", user, g)
			}
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s lacks %q, want %q", user, got, want)
		}
	}
}
