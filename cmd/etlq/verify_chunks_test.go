package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestVerifyChunksAsDocumented: the streamed verify counts the source's
// snapshot chunks (docs/verify.md: chunk_rows rows of the key order, one
// SELECT each), as the in-server path does, not the batches a chunk goes
// out in (8,192 rows at most): 20,000 rows at the default chunk_rows of
// 50,000 showed 3 chunks streamed, 1 in the servers, and two keys of that
// one chunk, changed in the target, 2 differing chunks streamed. With
// chunk_rows = 5000 both paths count the same chunks, and the keys'
// chunks apart.
func TestVerifyChunksAsDocumented(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my, chDSN := s.db, s.my, s.chDSN
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)",
			"INSERT INTO "+db+".t SELECT seq, CONCAT('v', seq) FROM "+db+".seq_1_to_20000")
		dir := t.TempDir()
		state := filepath.Join(dir, "state")
		file := func(name, with string) string {
			f := filepath.Join(dir, name)
			writeFile(t, f, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d%s);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t INTO clickhouse dw.%s.t MODE upsert;
`, myDSN, testServerID(), with, chDSN, db, db))
			return f
		}
		plain, small := file("p.etl", ""), file("small.etl", ", chunk_rows = 5000")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, plain)

		chunks := func(f string, differing bool) (inServer, streamed [2]int) {
			t.Helper()
			for i, mode := range []string{"", "--stream"} {
				args := []string{"--state-dir", state, f}
				if mode != "" {
					args = append([]string{mode}, args...)
				}
				v, code, out := runVerify(t, args...)
				if len(v.Pipelines) != 1 || (code != 0) != differing {
					t.Fatalf("verify %s %s: exit %d:\n%s", mode, f, code, out)
				}
				r := v.Pipelines[0]
				if want := []string{"in-server", "streaming"}[i]; r.Path != want || r.SourceRows != 20000 {
					t.Fatalf("verify %s %s: want path %s over 20000 rows:\n%s", mode, f, want, out)
				}
				got := [2]int{r.Chunks, r.Differing}
				if i == 0 {
					inServer = got
				} else {
					streamed = got
				}
			}
			return inServer, streamed
		}
		if in, st := chunks(plain, false); in != [2]int{1, 0} || st != in {
			t.Errorf("20,000 rows at the default chunk_rows: want 1 chunk on both paths (chunks, differing), in the servers %v, streamed %v", in, st)
		}
		in, st := chunks(small, false)
		if in[0] < 4 || in[0] > 5 || st != in {
			t.Errorf("20,000 rows at chunk_rows = 5000: want the same 4 or 5 chunks on both paths, in the servers %v, streamed %v", in, st)
		}

		// Two keys of one chunk (of the default's), far apart in the
		// chunk's batches, changed in the target.
		if err := s.ch.Exec(context.Background(), fmt.Sprintf("ALTER TABLE %s.t UPDATE v = 'changed' WHERE id IN (100, 15000)", db)); err != nil {
			t.Fatal(err)
		}
		waitCHCount(t, chDSN, fmt.Sprintf("SELECT count() FROM %s.t WHERE v = 'changed'", db), 2, time.Minute)
		if in, st := chunks(plain, true); in != [2]int{1, 1} || st != in {
			t.Errorf("two keys of the one chunk changed: want 1 chunk, 1 differing on both paths, in the servers %v, streamed %v", in, st)
		}
		if in, st := chunks(small, true); in[1] != 2 || st[1] != 2 || st[0] != in[0] {
			t.Errorf("two keys of two chunks of 5,000 changed: want 2 differing on both paths, in the servers %v, streamed %v", in, st)
		}
	})
}
