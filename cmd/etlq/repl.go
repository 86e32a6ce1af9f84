package main

import (
	"context"
	"errors"

	"github.com/etlq/etlq/cmd/etlq/internal/repl"
)

type replCmd struct {
	Source string `placeholder:"DSN" help:"A source to explore, e.g. mysql://root@127.0.0.1:3306 (named src in queries)."`
	File   string `arg:"" optional:"" type:"existingfile" help:"A .etl file to load first: its sources, functions and pipelines."`
}

func (c *replCmd) Run(ctx context.Context) error {
	err := repl.Run(ctx, repl.Config{Source: c.Source, File: c.File})
	if errors.Is(err, repl.ErrFailed) {
		return exitError{1}
	}
	return err
}
