package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

// loaded is a parsed, expanded file.
type loaded struct {
	path string
	src  []byte
	file *lang.File
}

// load reads, parses and expands a file. Errors come back formatted with
// the source line and a caret.
func load(path string) (*loaded, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := lang.ParseFile(path, src)
	if err != nil {
		return nil, formatErr(err, src)
	}
	if errs := expand(f); len(errs) > 0 {
		return nil, formatErr(errs, src)
	}
	// src is kept for error messages only: with the passwords written
	// in it masked.
	return &loaded{path: path, src: lang.MaskSecrets(src), file: f}, nil
}

// expand replaces ${VAR} and ${file:PATH} in f; what is a secret (a
// file's content, a DSN's password) is hidden from every later message.
func expand(f *lang.File) lang.Errors {
	return lang.ExpandWith(f, lang.Expansion{Lookup: os.LookupEnv, Secret: connectors.RegisterSecret})
}

// fileError is an error already formatted for the terminal.
type fileError struct{ text string }

func (e fileError) Error() string { return e.text }

// formatErr formats err with the lines of src it points at, the secrets
// written in src masked.
func formatErr(err error, src []byte) error {
	src = lang.MaskSecrets(src)
	var errs lang.Errors
	if errors.As(err, &errs) {
		return fileError{errs.Format(src)}
	}
	var e *lang.Error
	if errors.As(err, &e) {
		return fileError{lang.Errors{e}.Format(src)}
	}
	return err
}

// build plans a loaded file, against live sources unless offline. The
// connections it opens to read schemas are closed before it returns.
func (l *loaded) build(ctx context.Context, offline bool) (*planner.Plan, error) {
	opts := planner.Options{}
	if !offline {
		cat := newLiveCatalog()
		defer cat.Close()
		// A source that cannot be reached is one clear line, not an error
		// at every table that names it.
		decls, err := planner.Build(ctx, l.file, planner.Options{})
		if err != nil {
			return nil, formatErr(err, l.src)
		}
		for _, d := range decls.Sources {
			if err := cat.ping(ctx, d); err != nil {
				return nil, fmt.Errorf("source %s (%s): %w", d.Name, d.Redacted, err)
			}
		}
		opts.Catalog = cat
	}
	p, err := planner.Build(ctx, l.file, opts)
	if err != nil {
		return nil, formatErr(err, l.src)
	}
	return p, nil
}

// loadPlan reads, parses and plans a file.
func loadPlan(ctx context.Context, path string, offline bool) (*loaded, *planner.Plan, error) {
	l, err := load(path)
	if err != nil {
		return nil, nil, err
	}
	p, err := l.build(ctx, offline)
	return l, p, err
}

// ping checks that a source answers.
func (c *liveCatalog) ping(ctx context.Context, d *planner.SourceDecl) error {
	s, err := c.source(d)
	if err != nil {
		return err
	}
	_, err = s.Tables(ctx, "information_schema", "TABLES")
	return err
}

// liveCatalog answers schema questions by connecting to the declared
// sources, once each.
type liveCatalog struct {
	mu      sync.Mutex
	sources map[string]connectors.Source
	failed  map[string]error
}

func newLiveCatalog() *liveCatalog {
	return &liveCatalog{sources: map[string]connectors.Source{}, failed: map[string]error{}}
}

func (c *liveCatalog) source(d *planner.SourceDecl) (connectors.Source, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.sources[d.Name]; ok {
		return s, nil
	}
	if err, ok := c.failed[d.Name]; ok {
		return nil, err
	}
	s, err := connectors.NewSource(d.Kind, d.Name, d.DSN, d.Options)
	if err != nil {
		c.failed[d.Name] = err
		return nil, err
	}
	c.sources[d.Name] = s
	return s, nil
}

func (c *liveCatalog) Tables(ctx context.Context, d *planner.SourceDecl, db, pattern string) ([]connectors.TableRef, error) {
	s, err := c.source(d)
	if err != nil {
		return nil, err
	}
	return s.Tables(ctx, db, pattern)
}

func (c *liveCatalog) Describe(ctx context.Context, d *planner.SourceDecl, ref connectors.TableRef) (*connectors.TableSchema, error) {
	s, err := c.source(d)
	if err != nil {
		return nil, err
	}
	return s.Describe(ctx, ref)
}

// Close closes every source connection.
func (c *liveCatalog) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.sources {
		s.Close()
	}
	c.sources = map[string]connectors.Source{}
}
