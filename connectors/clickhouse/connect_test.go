package clickhouse

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
)

// TestOpenWaitsOutStalledHandshakes: ClickHouse accepts a sink's first
// connections but does not answer their hello within dial_timeout (a
// server slow under load, a network that drops packets): Open tries again
// with the inserts' back-off, as for a refused connection, instead of
// stopping the pipeline. So does reading the largest _version when a
// pipeline starts, after the connections dropped and the next one stalls.
func TestOpenWaitsOutStalledHandshakes(t *testing.T) {
	base := newEnv(t, nil)
	s, p := base.proxied(map[string]any{"dial_timeout": "300ms", "max_backoff": "200ms"})
	sch := kvSchema()
	tg := base.target("kv", connectors.ModeUpsert, []string{"id"}, sch, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	p.stall(2)
	w, err := s.Open(ctx, tg)
	if err != nil {
		t.Fatalf("Open after stalled handshakes: %v", err)
	}
	defer w.Close()
	if n := p.stalledConns(); n != 2 {
		t.Fatalf("%d connections stalled, want 2", n)
	}
	write(t, w, base.build(sch, sysRow(7, false, "insert", 1, "a")), nil)
	flush(t, w)

	p.cut()
	p.stall(1)
	p.restore()
	v, err := w.(connectors.VersionReader).MaxVersion(ctx)
	if err != nil || v != 7 {
		t.Fatalf("largest _version after a stalled handshake: %d, %v; want 7", v, err)
	}
	if n := p.stalledConns(); n != 3 {
		t.Fatalf("%d connections stalled, want 3", n)
	}
}

// TestOpenRefusedLoginFails: a login ClickHouse refuses (an unknown user,
// a wrong password) is no connection failure: Open reports it at once
// with ClickHouse's reason, the password masked, and does not retry.
func TestOpenRefusedLoginFails(t *testing.T) {
	base := newEnv(t, nil)
	for _, user := range []string{"etlq_no_such_user", "default"} {
		t.Run(user, func(t *testing.T) {
			u, err := url.Parse(base.dsn)
			if err != nil {
				t.Fatal(err)
			}
			u.User = url.UserPassword(user, "pw-etlq-secret")
			s, err := NewSink("dw", u.String(), map[string]any{"max_backoff": "100ms"})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err = s.Open(ctx, base.target("kv", connectors.ModeAppend, nil, kvSchema(), nil))
			if err == nil || ctx.Err() != nil {
				t.Fatalf("Open with a refused login: %v, want its error at once", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "refused the login") || !strings.Contains(msg, user) || strings.Contains(msg, "pw-etlq-secret") {
				t.Errorf("want ClickHouse's reason naming the user, the password masked: %v", err)
			}
			t.Log(err)
		})
	}
}
