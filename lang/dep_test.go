package lang_test

import (
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestLayerImports: lang/ imports no etlq layer but [].
func TestLayerImports(t *testing.T) {
	testenv.CheckLayerImports(t, "lang")
}
