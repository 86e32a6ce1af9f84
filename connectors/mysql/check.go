package mysql

import (
	"context"
	"strings"

	"github.com/etlq/etlq/connectors"
)

var _ connectors.StreamChecker = (*Source)(nil)

// CheckStream reports what Open would refuse about the server's binlog
// settings: a request with a table that follows the binlog (SNAPSHOT
// initial or never) needs log_bin, binlog_format = ROW and binlog_row_image
// = FULL, checked as Open checks them. A request of SNAPSHOT only tables
// needs none of them.
func (s *Source) CheckStream(ctx context.Context, req connectors.StreamRequest) error {
	need := false
	for _, t := range req.Tables {
		need = need || t.Snapshot != connectors.SnapshotOnly
	}
	if !need {
		return nil
	}
	c, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, _, err := masterStatus(c, s.cfg.Flavor); err != nil {
		if strings.Contains(err.Error(), "ERROR 1227") {
			// Access denied: name every privilege the binlog needs that
			// the user lacks, with its GRANT, rather than the server's
			// words for one of them.
			if gs, gerr := s.MissingGrants(ctx, req); gerr == nil && len(gs) > 0 {
				return &connectors.MissingGrantsError{Grants: gs}
			}
		}
		return err
	}
	if err := checkBinlogSettings(c); err != nil {
		return err
	}
	do, ignore := binlogFilters(c)
	if _, err := checkBinlogFilters(do, ignore, req); err != nil {
		return err
	}
	_, err = checkReplicaLogging(c, s.cfg.Flavor)
	return err
}
