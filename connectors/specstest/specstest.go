// Package specstest registers the specs of the built-in connectors without
// the connectors themselves, so that the compiler layers' tests (planner)
// check WITH clauses against the real options while linking no database
// driver. The specs are a generated copy (specs_gen.go) that
// TestSpecsCopy in connectors/all keeps equal to the registered ones
// (go test ./connectors/all -update rewrites it).
package specstest

import (
	"fmt"
	"sync"

	"github.com/etlq/etlq/connectors"
)

var once sync.Once

// Register adds every built-in source and sink kind with its spec; making
// one fails, since no connector is linked. Calling it again does nothing.
func Register() {
	once.Do(func() {
		for _, s := range Sources {
			connectors.RegisterSource(s, func(name, _ string, _ map[string]any) (connectors.Source, error) {
				return nil, fmt.Errorf("source %q: specstest registers specs only", name)
			})
		}
		for _, s := range Sinks {
			connectors.RegisterSink(s, func(name, _ string, _ map[string]any) (connectors.Sink, error) {
				return nil, fmt.Errorf("sink %q: specstest registers specs only", name)
			})
		}
	})
}
