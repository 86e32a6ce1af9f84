package planner_test

import (
	"context"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

// TestExplainMasksSecretOptions: an option its connector marks secret
// (headers, signing_secret of the http sink) written inline is shown as
// '****' by plan, and its value is hidden from every later message.
func TestExplainMasksSecretOptions(t *testing.T) {
	f, err := lang.ParseFile("test.etl", []byte(header+`CREATE PIPELINE hook FROM binlog shopdb.orders TRANSFORM id
  INTO http 'https://hooks.example.com/x' FORMAT canal_json
  WITH (headers = 'Authorization: Bearer lit3ral-tok', signing_secret = 'lit3ral-key', timeout = '3s');
`))
	if err != nil {
		t.Fatal(err)
	}
	if errs := lang.Expand(f, func(string) (string, bool) { return "x", true }); len(errs) > 0 {
		t.Fatal(errs)
	}
	p, err := planner.Build(context.Background(), f, planner.Options{Catalog: shop})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	planner.Explain(&out, p, nil)
	if strings.Contains(out.String(), "lit3ral") || !strings.Contains(out.String(), "headers = '****'") ||
		!strings.Contains(out.String(), "signing_secret = '****'") || !strings.Contains(out.String(), "timeout = 3s") {
		t.Errorf("plan shows a secret option or hides another:\n%s", out.String())
	}
	if got := connectors.RedactSecrets("server said: bad key lit3ral-key"); got != "server said: bad key ****" {
		t.Errorf("a secret option's value is not hidden from messages: %q", got)
	}
}

// TestHeaderValueFromVariableSecret: a header's value from ${NAME} is a
// secret whatever the header's name ('X-Hook: ${HOOK_ID}'): the http sink
// hides only the values of headers named as credentials, the rest of
// headers is hidden by the planner, part by part (the whole option's
// text alone never shows in a message); plan shows the option as written.
func TestHeaderValueFromVariableSecret(t *testing.T) {
	f, err := lang.ParseFile("test.etl", []byte(header+`CREATE PIPELINE hook FROM binlog shopdb.orders TRANSFORM id
  INTO http 'https://hooks.example.com/x' FORMAT canal_json
  WITH (headers = 'X-Team: pl4in-team; X-Hook: ${HOOK_ID}', timeout = '3s');
`))
	if err != nil {
		t.Fatal(err)
	}
	if errs := lang.Expand(f, func(string) (string, bool) { return "v4r-h00k-id", true }); len(errs) > 0 {
		t.Fatal(errs)
	}
	p, err := planner.Build(context.Background(), f, planner.Options{Catalog: shop})
	if err != nil {
		t.Fatal(err)
	}
	if got := connectors.RedactSecrets("endpoint: unknown hook v4r-h00k-id"); got != "endpoint: unknown hook ****" {
		t.Errorf("a header's value from ${HOOK_ID} is not hidden from messages: %q", got)
	}
	var out strings.Builder
	planner.Explain(&out, p, nil)
	if s := out.String(); strings.Contains(s, "v4r-h00k-id") || !strings.Contains(s, "headers = 'X-Team: pl4in-team; X-Hook: ${HOOK_ID}'") {
		t.Errorf("plan shows a variable's value or hides the option as written:\n%s", s)
	}
}
