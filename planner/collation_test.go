package planner_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

func collField(name, coll string) arrow.Field {
	return arrow.Field{Name: name, Type: arrow.BinaryTypes.String, Nullable: true,
		Metadata: arrow.NewMetadata([]string{exec.MetaSourceType, exec.MetaCollation}, []string{"varchar(16)", coll})}
}

// collCatalog has one table whose text columns have different collations.
var collCatalog = fixedCatalog{
	"db.t": {
		Ref: connectors.TableRef{DB: "db", Table: "t"},
		Fields: []arrow.Field{
			notNull(field("id", arrow.PrimitiveTypes.Int64, "bigint")),
			collField("gen", "utf8mb4_general_ci"),
			collField("uni", "utf8mb4_unicode_ci"),
			collField("bin", "utf8mb4_bin"),
			collField("swe", "utf8mb4_swedish_ci"),
		},
		PrimaryKey: []string{"id"},
	},
}

func buildColl(t *testing.T, where string) error {
	t.Helper()
	src := header + "CREATE PIPELINE p FROM binlog db.t WHERE " + where + " INTO stdout;\n"
	f, err := lang.ParseFile("test.etl", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	_, err = planner.Build(context.Background(), f, planner.Options{Catalog: collCatalog})
	return err
}

// TestCollationErrors: what MySQL refuses (an illegal mix of collations)
// and what etlq cannot do (a collation it does not implement) are errors
// at the place in the file, never a comparison of another kind.
func TestCollationErrors(t *testing.T) {
	for _, tc := range []struct{ where, want string }{
		{"gen = uni", `3:42: illegal mix of collations (utf8mb4_general_ci, implicit) and (utf8mb4_unicode_ci, implicit) for =: add COLLATE <name> to one side`},
		{"gen IN (uni, 'a')", `3:42: illegal mix of collations (utf8mb4_general_ci, implicit) and (utf8mb4_unicode_ci, implicit) and (utf8mb4_nopad_bin, coercible) for IN: add COLLATE <name> to one side`},
		{"swe = 'a'", `3:42: collation "utf8mb4_swedish_ci" is not supported for = (docs/functions.md, "Collations", lists those etlq implements): add COLLATE <name> to compare under one of them (utf8mb4_bin compares byte for byte)`},
		{"locate('a', swe) > 0", `3:42: collation "utf8mb4_swedish_ci" is not supported for locate (docs/functions.md, "Collations", lists those etlq implements): add COLLATE <name> to compare under one of them (utf8mb4_bin compares byte for byte)`},
		{"gen COLLATE utf8mb4_bni = 'a'", `3:54: unknown collation "utf8mb4_bni" (known: `},
		{"id COLLATE utf8mb4_bin = 1", `3:42: COLLATE needs text, got INT64`},
		{"gen COLLATE utf8mb4_bin = uni COLLATE utf8mb4_general_ci", `3:42: illegal mix of collations (utf8mb4_bin, explicit) and (utf8mb4_general_ci, explicit) for =: add COLLATE <name> to one side`},
	} {
		err := buildColl(t, tc.where)
		var errs lang.Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Errorf("%s: want an error %q, got %v", tc.where, tc.want, err)
			continue
		}
		got := fmt.Sprintf("%d:%d: %s", errs[0].Pos.Line, errs[0].Pos.Column, errs[0].Msg)
		if len(got) > len(tc.want) && tc.want[len(tc.want)-1] == ' ' {
			got = got[:len(tc.want)]
		}
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.where, got, tc.want)
		}
	}
}

// TestCollationsThatPlan: MySQL's coercibility rules settle these.
func TestCollationsThatPlan(t *testing.T) {
	for _, where := range []string{
		"gen = 'PAID'",                         // a column beats a literal
		"gen = bin",                            // _bin beats _ci of its character set
		"gen COLLATE utf8mb4_unicode_ci = uni", // EXPLICIT beats IMPLICIT
		"lower(gen) = uni COLLATE utf8mb4_bin",
		"concat(gen, 'x') LIKE 'A%'", // a function keeps its argument's collation
		"swe IS NOT NULL",            // an unsupported collation may flow through
		"swe COLLATE utf8mb4_bin = 'a'",
		"md5(gen) = uni", // md5's result has no column's collation
	} {
		if err := buildColl(t, where); err != nil {
			t.Errorf("%s: %v", where, err)
		}
	}
}
