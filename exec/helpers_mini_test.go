package exec_test

import (
	"testing"

	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/exec/exectest"
)

// parseMini and evalText are the tests' short names for exectest's helpers.
func parseMini(s string, cols map[string]exec.Expr) (exec.Expr, error) {
	return exectest.ParseExpr(s, cols)
}

func evalText(t testing.TB, sql string) (string, error) { return exectest.EvalText(t, sql) }
