package connectors

import (
	"errors"
	"io"
	"testing"
)

func TestNamed(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		what, name string
		err        error
		want       string
	}{
		{"sink", "dw", errors.New(`clickhouse sink "dw": cannot reach 127.0.0.1:1`), `clickhouse sink "dw": cannot reach 127.0.0.1:1`},
		{"sink", "dw", errors.New(`sink "dw": stdout takes no target`), `sink "dw": stdout takes no target`},
		{"sink", "dw", errors.New("cannot reach 127.0.0.1:1"), "sink dw: cannot reach 127.0.0.1:1"},
		{"sink", "dw", errors.New(`clickhouse sink "dw2": closed`), `sink dw: clickhouse sink "dw2": closed`},
		{"source", "s", errors.New(`source "s": option "ssl_ca": bad`), `source "s": option "ssl_ca": bad`},
		{"source", "s", errors.New("source s: connect to mysql: denied"), "source s: connect to mysql: denied"},
		{"source", "s", errors.New("connect to mysql: denied"), "source s: connect to mysql: denied"},
		{"source", "s", errors.New(`source "s2": denied`), `source s: source "s2": denied`},
	} {
		if got := Named(c.what, c.name, c.err).Error(); got != c.want {
			t.Errorf("Named(%q, %q, %q) = %q, want %q", c.what, c.name, c.err, got, c.want)
		}
	}
	if Named("sink", "dw", nil) != nil {
		t.Error("Named of nil is not nil")
	}
	if err := Named("source", "s", io.EOF); !errors.Is(err, io.EOF) {
		t.Errorf("Named does not wrap: %v", err)
	}
}
