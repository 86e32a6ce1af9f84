package main

import (
	"testing"

	"github.com/etlq/etlq/connectors/testenv/layers"
)

// TestLayerImports: cmd parses flags and calls the runtime (exec/engine),
// the compiler (lang, planner) for check, plan and fmt, and the REPL
// (internal/repl). It links the connectors through connectors/all and
// reaches them through the registry, never importing one, but the stdout
// sink the REPL prints with.
func TestLayerImports(t *testing.T) {
	t.Parallel()
	layers.Check(t, "cmd", "lang", "planner", "exec", "stdlib", "exec/engine", "connectors", "connectors/all", "connectors/stdout")
}
