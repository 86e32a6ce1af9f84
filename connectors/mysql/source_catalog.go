package mysql

import "github.com/etlq/etlq/connectors"

var _ connectors.DatabaseLister = (*Source)(nil)

// DSNDatabase is the database the DSN names, "" when it names none.
func (s *Source) DSNDatabase() string { return s.cfg.DB }
