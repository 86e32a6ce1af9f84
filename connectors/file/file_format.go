package file

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/format"
)

// checkExisting refuses a target whose file holds lines of another format
// than the one the pipeline writes: the rows would be appended after them
// in the new one, and the file would be read as neither (a FORMAT changed
// from jsonl to csv after a run, new-user trial: JSON lines followed by
// CSV). The file's format is told from its first lines; an empty or
// missing file, or one whose first line cannot be told (longer than what
// is read), is taken.
func checkExisting(c *config) error {
	if c.format == format.Parquet {
		return nil // (a series of files of their own)
	}
	had, err := formatOfFile(c.path)
	if err != nil || had == "" || sameFamily(had, c.format) {
		return err
	}
	return &connectors.FormatErr{Err: fmt.Errorf("%s already holds %s written before, and FORMAT %s would append %s rows after them "+
		"(a file of two formats that reads as neither): move or rename the existing file, or write to a new path, "+
		"or keep FORMAT %s", c.path, described(had), c.format, c.format, had)}
}

// sameFamily reports whether rows of format want may follow those of had.
func sameFamily(had, want string) bool {
	return had == want || had == "json" && (want == format.JSONL || want == format.CanalJSON || want == format.DebeziumJSON)
}

func described(f string) string {
	switch f {
	case "json":
		return "JSON lines"
	case format.JSONL:
		return "jsonl rows"
	case format.CSV:
		return "csv rows"
	case format.Table:
		return "a text table"
	}
	return f + " messages"
}

// formatOfFile tells the format of the rows a file holds from its first
// two lines: a JSON object (canal_json and debezium_json by their fields,
// else jsonl; "json" when the line is too long to read whole), an aligned
// table (its second line the header's rule, dashes and pluses), else csv
// (its header line). "" for a missing or empty file.
func formatOfFile(path string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	first, err := r.ReadSlice('\n')
	if len(bytes.TrimSpace(first)) == 0 && (err == io.EOF || err == nil) {
		return "", nil
	}
	full := err == nil || err == io.EOF
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return "", err
	}
	if bytes.HasPrefix(bytes.TrimSpace(first), []byte("{")) {
		var obj map[string]json.RawMessage
		if !full || json.Unmarshal(first, &obj) != nil {
			return "json", nil
		}
		has := func(keys ...string) bool {
			for _, k := range keys {
				if _, ok := obj[k]; !ok {
					return false
				}
			}
			return true
		}
		switch {
		case has("before", "after", "source", "op"):
			return format.DebeziumJSON, nil
		case has("data", "database", "table", "type", "isDdl"):
			return format.CanalJSON, nil
		}
		return format.JSONL, nil
	}
	if !full {
		return "", nil
	}
	second, _ := r.ReadSlice('\n')
	rule := bytes.TrimRight(second, "\r\n")
	if len(rule) > 0 && len(bytes.Trim(rule, "-+")) == 0 {
		return format.Table, nil
	}
	return format.CSV, nil
}
