package main

import (
	"context"
	"fmt"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

// checkGrants names, at each CREATE SOURCE and CREATE SINK, the privileges
// its user lacks for what the file's pipelines do there, each with the
// statement that grants it.
func checkGrants(ctx context.Context, plan *planner.Plan) lang.Errors {
	var errs lang.Errors
	report := func(what, name string, pos lang.Pos, gs []connectors.MissingGrant, err error) {
		if err != nil {
			errs = append(errs, &lang.Error{Pos: pos, EndPos: pos, Msg: fmt.Sprintf("%s %s: cannot read the user's privileges: %v", what, name, err)})
			return
		}
		for _, g := range gs {
			errs = append(errs, &lang.Error{Pos: pos, EndPos: pos, Msg: fmt.Sprintf("%s %s: %s", what, name, g)})
		}
	}
	for _, d := range plan.Sources {
		var req connectors.StreamRequest
		for _, p := range plan.Pipelines {
			if p.Source == d.Name {
				for _, t := range p.Tables {
					req.Tables = append(req.Tables, connectors.StreamTable{Ref: t.Ref, Snapshot: p.Snapshot})
				}
			}
		}
		if len(req.Tables) == 0 {
			continue
		}
		src, err := connectors.NewSource(d.Kind, d.Name, d.DSN, d.Options)
		if err != nil {
			continue // reported by checkStreams
		}
		if gc, ok := src.(connectors.SourceGrantChecker); ok {
			gs, err := gc.MissingGrants(ctx, req)
			report("source", d.Name, d.Pos, gs, err)
		}
		src.Close()
	}
	for _, d := range plan.Sinks {
		var targets []connectors.Target
		for _, p := range plan.Pipelines {
			if p.Sink == d.Name {
				targets = append(targets, p.Target)
			}
		}
		if len(targets) == 0 || d.Implicit {
			continue
		}
		s, err := connectors.NewSink(d.Kind, d.Name, d.DSN, d.Options)
		if err != nil {
			continue // reported with the targets
		}
		if gc, ok := s.(connectors.SinkGrantChecker); ok {
			gs, err := gc.MissingGrants(ctx, targets)
			report("sink", d.Name, d.Pos, gs, err)
		}
		s.Close()
	}
	return errs
}
