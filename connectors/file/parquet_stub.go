package file

import (
	"errors"

	"github.com/etlq/etlq/connectors"
)

func (s *Sink) openParquet(c *config, t connectors.Target) (connectors.Writer, error) {
	return nil, errors.New("parquet is not written yet")
}
