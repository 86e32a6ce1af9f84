package connectors_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
)

var testSpec = []connectors.Option{
	{Name: "rows", Type: connectors.OptInt, Default: 50000, Min: 1, Max: math.MaxInt64},
	{Name: "par", Type: connectors.OptInt, Default: 4, Min: 1, Max: 1024},
	{Name: "id", Type: connectors.OptInt},
	{Name: "color", Type: connectors.OptBool, Default: false},
	{Name: "wait", Type: connectors.OptDuration, Default: "1s"},
	{Name: "mode", Type: connectors.OptString, Default: "evolve", Enum: []string{"evolve", "ignore", "fail"}},
	{Name: "path", Type: connectors.OptString},
}

func TestParseOptionsDefaults(t *testing.T) {
	o, err := connectors.ParseOptions(testSpec)
	if err != nil {
		t.Fatal(err)
	}
	if o.Int("rows") != 50000 || o.Int("par") != 4 || o.Bool("color") || o.Duration("wait") != time.Second || o.String("mode") != "evolve" {
		t.Errorf("defaults: rows %d par %d color %v wait %v mode %q", o.Int("rows"), o.Int("par"), o.Bool("color"), o.Duration("wait"), o.String("mode"))
	}
	if _, ok := o.Value("id"); ok || o.Given("rows") {
		t.Error("an option without value or default has no value, and a default is not given")
	}
	if _, ok := o.Value("path"); ok || o.String("path") != "" {
		t.Error("a string without default has no value")
	}
}

func TestParseOptionsTypes(t *testing.T) {
	for _, c := range []struct {
		name string
		in   any
		want any
	}{
		{"rows", int64(7), int64(7)},
		{"rows", 7, int64(7)},
		{"rows", int32(7), int64(7)},
		{"rows", uint64(7), int64(7)},
		{"rows", float64(7), int64(7)},
		{"rows", " 7", int64(7)},
		{"color", true, true},
		{"color", "true", true},
		{"wait", 2 * time.Millisecond, 2 * time.Millisecond},
		{"wait", "500ms", 500 * time.Millisecond},
		{"mode", "ignore", "ignore"},
		{"mode", "FAIL", "fail"},
		{"path", "/tmp/x", "/tmp/x"},
	} {
		o, err := connectors.ParseOptions(testSpec, map[string]any{c.name: c.in})
		if err != nil {
			t.Errorf("%s = %#v: %v", c.name, c.in, err)
			continue
		}
		if v, _ := o.Value(c.name); v != c.want || !o.Given(c.name) {
			t.Errorf("%s = %#v: got %#v (given %v), want %#v", c.name, c.in, v, o.Given(c.name), c.want)
		}
	}
}

func TestParseOptionsInvalid(t *testing.T) {
	for _, c := range []struct {
		name string
		in   any
		want string
	}{
		{"rows", "many", `option "rows": want an integer, got many`},
		{"rows", 1.5, `option "rows": want an integer, got 1.5`},
		{"rows", uint64(math.MaxUint64), `option "rows": want an integer`},
		{"rows", 0, `option "rows": must be at least 1, got 0`},
		{"par", int64(2000), `option "par": must be between 1 and 1024, got 2000`},
		{"color", "maybe", `option "color": want a boolean, got maybe`},
		{"wait", "soon", `option "wait": want a duration such as '500ms', got soon`},
		{"wait", "-1s", `option "wait": want a duration such as '500ms', got -1s`},
		{"wait", 5, `option "wait": want a duration such as '500ms', got 5`},
		{"mode", "drop", `option "mode": want one of 'evolve', 'ignore', 'fail', got drop`},
		{"path", 3, `option "path": want a string, got 3`},
	} {
		_, err := connectors.ParseOptions(testSpec, map[string]any{c.name: c.in})
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s = %#v: error %v, want %s", c.name, c.in, err, c.want)
		}
	}
	// A secret is never shown, not even when it is of the wrong type.
	sec := []connectors.Option{{Name: "password", Type: connectors.OptString, Secret: true}}
	if _, err := connectors.ParseOptions(sec, map[string]any{"password": 12345}); err == nil || strings.Contains(err.Error(), "12345") {
		t.Errorf("secret: %v", err)
	}
	// A bad default is an error too: the spec is checked as the user's
	// values are.
	if _, err := connectors.ParseOptions([]connectors.Option{{Name: "n", Type: connectors.OptInt, Default: "x"}}); err == nil {
		t.Error("a bad default passed")
	}
}

// TestParseOptionsLayers: the pipeline's WITH over the sink's WITH over the
// spec's default; a nil value is no value.
func TestParseOptionsLayers(t *testing.T) {
	pipeline := map[string]any{"rows": int64(10), "mode": nil, "on_error": "skip"}
	sink := map[string]any{"rows": int64(20), "par": int64(8), "mode": "fail"}
	o, err := connectors.ParseOptions(testSpec, pipeline, sink)
	if err != nil {
		t.Fatal(err)
	}
	if o.Int("rows") != 10 || o.Int("par") != 8 || o.String("mode") != "fail" || o.Int("id") != 0 || o.String("wait") != "" || o.Duration("wait") != time.Second {
		t.Errorf("rows %d par %d mode %q wait %v", o.Int("rows"), o.Int("par"), o.String("mode"), o.Duration("wait"))
	}
	if !o.Given("par") || o.Given("wait") {
		t.Error("given: a layer's value, not a default")
	}
	if _, ok := o.Value("on_error"); ok {
		t.Error("a name the spec lacks is left alone")
	}
	// An invalid value in a lower layer that a higher one overrides is not
	// looked at.
	if _, err := connectors.ParseOptions(testSpec, map[string]any{"rows": int64(5)}, map[string]any{"rows": "x"}); err != nil {
		t.Errorf("overridden value checked: %v", err)
	}
}

func TestUnknownOption(t *testing.T) {
	extra := []connectors.Option{{Name: "order_by", Type: connectors.OptString}}
	if err := connectors.UnknownOption(`source "s"`, map[string]any{"rows": 1, "order_by": "x"}, testSpec, extra); err != nil {
		t.Errorf("known options refused: %v", err)
	}
	err := connectors.UnknownOption(`source "s"`, map[string]any{"rows": 1, "zz": 1, "bogus": 2}, testSpec)
	if err == nil || err.Error() != `unknown option "bogus" for source "s"` {
		t.Errorf("got %v", err)
	}
}
