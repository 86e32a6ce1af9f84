package mysql

import (
	"context"
	"testing"
)

// TestBinlogExpiryOfASnapshotOnlyCheckpoint: the checkpoint of a source
// whose pipelines all read SNAPSHOT only holds no binlog position (file
// ""); it has nothing the server can purge. A second apply of such a file
// warned "the checkpoint's binary log  was purged on the server … apply
// fails" (new-user trial), naming no file, and apply did not fail.
func TestBinlogExpiryOfASnapshotOnlyCheckpoint(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			src := newSrc(t, s, nil)
			defer src.Close()
			state := []byte(`{"file":"","pos":0,"flavor":"mariadb","version":7,"snapshot":{"db.t":{"done":true}}}`)
			e, err := src.BinlogExpiry(context.Background(), state)
			if err != nil {
				t.Fatal(err)
			}
			if e.Purged || e.File != "" || !e.PurgeAt.IsZero() {
				t.Errorf("expiry of a checkpoint without a binlog position: purged %v, file %q, purge at %v; want nothing to purge", e.Purged, e.File, e.PurgeAt)
			}
		})
	}
}
