package planner

import (
	"context"
	"strings"

	"github.com/etlq/etlq/lang"
)

// QueryPipeline is the name of the one pipeline of a plan made by
// BuildQuery.
const QueryPipeline = "query"

// BuildQuery binds a REPL query — FROM binlog … [SNAPSHOT …] [WHERE …]
// [TRANSFORM …] [LIMIT n] — against the source src into a plan of one
// pipeline, named QueryPipeline, that prints to stdout: INTO stdout FORMAT
// table MODE append. SNAPSHOT defaults to never (tail live changes from now
// on). funcs are CREATE FUNCTIONs the query may call (those of a file the
// REPL loaded).
//
// The query is bound by the same code as a CREATE PIPELINE, so names, types
// and errors are those of a file. Tables are written database.table or
// src.database.table. LIMIT is not part of the plan: the caller stops after
// q.Limit rows. The error, when not nil, is a lang.Errors with positions in
// the query's text.
func BuildQuery(ctx context.Context, q *lang.Query, src *SourceDecl, cat Catalog, funcs ...*lang.CreateFunction) (*Plan, error) {
	b := &builder{ctx: ctx, cat: cat, plan: &Plan{File: q.Pos.Filename},
		sources: map[string]*SourceDecl{}, sinks: map[string]*SinkDecl{}, funcs: map[string]*udf{}}
	if src == nil {
		b.errs.add(q, "no source to read from: start etlq repl --source 'mysql://…' or \\load a file with a CREATE SOURCE")
		return nil, b.errs.err()
	}
	if cat == nil {
		b.errs.add(q, "a query needs the live schema of its tables (no catalog)")
		return nil, b.errs.err()
	}
	b.sources[strings.ToLower(src.Name)] = src
	b.plan.Sources = append(b.plan.Sources, src)
	for _, f := range funcs {
		b.function(f)
	}
	// A function of the loaded file that failed to declare was reported
	// when the file was loaded; its errors do not belong to this query.
	b.errs.errs = nil

	// The synthesized clauses sit at the query's start, so that an error
	// about them (there should be none) still points into the query.
	at := q.Pos
	ident := func(name string) *lang.Ident {
		return &lang.Ident{Pos: at, EndPos: at, Name: name, Raw: name}
	}
	snap := q.Snapshot
	if snap == nil {
		snap = ident("never")
	}
	p := &lang.CreatePipeline{
		Pos:       q.Pos,
		EndPos:    q.EndPos,
		Name:      ident(QueryPipeline),
		From:      q.From,
		Snapshot:  snap,
		Where:     q.Where,
		Transform: q.Transform,
		Into:      &lang.IntoClause{Pos: at, EndPos: at, Kind: ident("stdout")},
		Format:    ident("table"),
		Mode:      ident("append"),
	}
	b.pipeline(p)
	if err := b.errs.err(); err != nil {
		return nil, err
	}
	return b.plan, nil
}
