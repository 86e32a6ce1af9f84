package mysql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
	"github.com/etlq/etlq/exec"
)

// server is one test MariaDB instance.
type server struct {
	name string
	dsn  string
}

// servers returns the test servers: FULL row metadata, and the server
// default. testenv skips the test locally when one does not answer, and
// fails it under CI=true.
func servers(t *testing.T) []server {
	t.Helper()
	return []server{
		{"full", testenv.MySQLDSN(t)},
		{"minimal", testenv.MySQLMinimalDSN(t)},
	}
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

var nameRe = regexp.MustCompile(`[^a-z0-9_]+`)

// uniqueDB creates a database unique to the test and drops it afterwards.
func uniqueDB(t *testing.T, s server) string {
	t.Helper()
	n := strings.ToLower(nameRe.ReplaceAllString(strings.ToLower(t.Name()), "_"))
	if len(n) > 40 {
		n = n[:40]
	}
	n = fmt.Sprintf("%s_%04x", n, rand.Intn(1<<16))
	run(t, s, "CREATE DATABASE "+quoteIdent(n))
	t.Cleanup(func() { run(t, s, "DROP DATABASE IF EXISTS "+quoteIdent(n)) })
	return n
}

// conn opens a client connection to s.
func conn(t testing.TB, s server) *client.Conn {
	t.Helper()
	cfg, err := ParseDSN(s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.ConnectWithTimeout(cfg.Addr(), cfg.User, cfg.Password, "", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Execute("SET NAMES utf8mb4"); err != nil {
		t.Fatal(err)
	}
	return c
}

// run executes statements on s.
func run(t testing.TB, s server, stmts ...string) {
	t.Helper()
	c := conn(t, s)
	defer c.Close()
	for _, q := range stmts {
		if _, err := c.Execute(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func newSrc(t testing.TB, s server, opts map[string]any) *Source {
	t.Helper()
	src, err := NewSource("test_"+strings.ToLower(nameRe.ReplaceAllString(strings.ToLower(t.Name()), "_")), s.dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// row is one decoded change row: column name → text of the value ("NULL"
// for NULL), as given by ValueStr.
type row map[string]string

// drain reads the stream to io.EOF (or until stop returns true), returning
// rows and the last Mark. Every batch is released.
func drain(t testing.TB, st connectors.Stream, timeout time.Duration, stop func([]row) bool) ([]row, *exec.Mark) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var rows []row
	var mark *exec.Mark
	for {
		if stop != nil && stop(rows) {
			return rows, mark
		}
		b, err := st.Next(ctx)
		if errors.Is(err, io.EOF) {
			return rows, mark
		}
		if err != nil {
			t.Fatalf("next: %v (after %d rows)", err, len(rows))
		}
		rows = append(rows, batchRows(b)...)
		if b.Mark != nil {
			mark = b.Mark
		}
		b.Release()
	}
}

func batchRows(b *exec.Batch) []row {
	if b.Record == nil {
		return nil
	}
	var out []row
	rec := b.Record
	for i := 0; i < int(rec.NumRows()); i++ {
		if b.Sel != nil && !inSel(b.Sel, i) {
			continue
		}
		r := row{}
		for j, f := range rec.Schema().Fields() {
			r[f.Name] = valueText(rec.Column(j), i)
		}
		out = append(out, r)
	}
	return out
}

func valueText(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "NULL"
	}
	switch x := a.(type) {
	case *array.Binary:
		return fmt.Sprintf("%x", x.Value(i))
	case *array.Timestamp:
		return fmt.Sprint(int64(x.Value(i)))
	case *array.Date32:
		return fmt.Sprint(int32(x.Value(i)))
	case *array.Duration:
		return fmt.Sprint(int64(x.Value(i)))
	}
	return a.ValueStr(i)
}

// checkedMem returns an allocator that fails the test on leaks.
func checkedMem(t *testing.T) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

func inSel(sel []int32, i int) bool {
	for _, s := range sel {
		if int(s) == i {
			return true
		}
	}
	return false
}
