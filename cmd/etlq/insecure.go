package main

import (
	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/planner"
)

// insecureWarnings are the warnings of plan's sources, sinks and targets
// whose settings weaken their connection's security
// (connectors.InsecureWarner, TargetInsecureWarner), each prefixed with
// the source, sink or pipeline it is about.
func insecureWarnings(plan *planner.Plan) []string {
	var out []string
	for _, d := range plan.Sources {
		src, err := connectors.NewSource(d.Kind, d.Name, d.DSN, d.Options)
		if err != nil {
			continue // reported where the source is used
		}
		if w, ok := src.(connectors.InsecureWarner); ok {
			for _, m := range w.InsecureWarnings() {
				out = append(out, "source "+d.Name+": "+m)
			}
		}
		src.Close()
	}
	for _, d := range plan.Sinks {
		s, err := connectors.NewSink(d.Kind, d.Name, d.DSN, d.Options)
		if err != nil {
			continue // reported with the targets
		}
		if w, ok := s.(connectors.InsecureWarner); ok {
			for _, m := range w.InsecureWarnings() {
				out = append(out, "sink "+d.Name+": "+m)
			}
		}
		if w, ok := s.(connectors.TargetInsecureWarner); ok {
			for _, p := range plan.Pipelines {
				if p.Sink == d.Name {
					for _, m := range w.InsecureTargetWarnings(p.Target) {
						out = append(out, "pipeline "+p.Name+": "+m)
					}
				}
			}
		}
		s.Close()
	}
	return out
}
