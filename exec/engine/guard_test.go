package engine

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/mysql"
)

// TestSnapshotWarning: a snapshot estimated (at SnapshotRate) to take
// longer than the server keeps binary logs is warned about; a shorter
// one, or a server that never purges by age, is not.
func TestSnapshotWarning(t *testing.T) {
	day := &mysql.Expiry{Retention: 24 * time.Hour, Setting: "binlog_expire_logs_seconds = 86400"}
	if w := snapshotWarning("s", 1_000_000, day); w != "" {
		t.Errorf("1M rows in a day: %s", w)
	}
	w := snapshotWarning("s", 20_000_000_000, day)
	if !strings.Contains(w, "source s: the snapshot of about 20000000000 rows takes about 27h47m0s at 200000 rows/s, longer than the server keeps binary logs (binlog_expire_logs_seconds = 86400)") {
		t.Errorf("20G rows in a day: %q", w)
	}
	if w := snapshotWarning("s", 20_000_000_000, &mysql.Expiry{}); w != "" {
		t.Errorf("no retention: %s", w)
	}
}

// TestExpiryWarning: a checkpoint is warned about within WarnWithin of
// its binary log's purge, and when it is purged.
func TestExpiryWarning(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := &mysql.Expiry{Retention: 48 * time.Hour, WarnWithin: 12 * time.Hour, Setting: "expire_logs_days = 2", File: "binlog.000007", PurgeAt: now.Add(13 * time.Hour)}
	if w := expiryWarning("s", e, now, false); w != "" {
		t.Errorf("13h left of a 12h warning: %s", w)
	}
	e.PurgeAt = now.Add(3 * time.Hour)
	if w := expiryWarning("s", e, now, false); w != "source s: the checkpoint's binary log binlog.000007 may be purged in 3h0m0s (at "+now.Add(3*time.Hour).Local().Format(time.RFC3339)+", expire_logs_days = 2): run apply before then, or raise the retention" {
		t.Errorf("3h left: %q", w)
	}
	e.Purged, e.Oldest, e.OldestAt = true, "binlog.000009", now
	if w := expiryWarning("s", e, now, false); !strings.Contains(w, "was purged on the server (the oldest is binlog.000009") {
		t.Errorf("purged: %q", w)
	}
}

// TestRetentionWarningsLocalZone: the binary log retention warnings give
// their times in the local zone with its offset, as the log lines and the
// other messages do — they said "… UTC" beside lines at +01:00. Run under
// TZ=Europe/Berlin in a child process (time.Local is read at start).
func TestRetentionWarningsLocalZone(t *testing.T) {
	if os.Getenv("ETLQ_TEST_ZONE_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRetentionWarningsLocalZone$", "-test.count=1")
		cmd.Env = append(os.Environ(), "ETLQ_TEST_ZONE_CHILD=1", "TZ=Europe/Berlin")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("under TZ=Europe/Berlin: %v\n%s", err, out)
		}
		return
	}
	now := time.Date(2026, 12, 6, 17, 8, 36, 0, time.UTC)
	e := &mysql.Expiry{Retention: 48 * time.Hour, WarnWithin: 12 * time.Hour, Setting: "expire_logs_days = 2", File: "binlog.000007", PurgeAt: now.Add(3 * time.Hour)}
	if w, want := expiryWarning("s", e, now, false), "(at 2026-12-06T21:08:36+01:00, expire_logs_days = 2)"; !strings.Contains(w, want) {
		t.Errorf("purge soon: want %q in %q", want, w)
	}
	e.Purged, e.Oldest, e.OldestAt = true, "binlog.000009", now
	for _, resnap := range []bool{false, true} {
		if w, want := expiryWarning("s", e, now, resnap), "(the oldest is binlog.000009, started 2026-12-06T18:08:36+01:00)"; !strings.Contains(w, want) {
			t.Errorf("purged (resnapshot %v): want %q in %q", resnap, want, w)
		}
	}
}
