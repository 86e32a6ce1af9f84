package engine

import (
	"encoding/json"
	"slices"
	"sort"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/planner"
)

// A SNAPSHOT only pipeline added to the file after the source's
// checkpoint read its tables' snapshots (docs/live-tables.md, "A pipeline
// added to the file later"). The source's stream, resumed there, reads
// none of them again, and a resnapshot is placed in a stream of changes,
// which a SNAPSHOT only pipeline does not follow (nor does the stream when
// every pipeline of the file is SNAPSHOT only). So such a pipeline reads
// its tables with a scan of its own: a stream of its own beside the
// source's, opened for that pipeline alone, as a first run opens one for a
// file of SNAPSHOT only pipelines — chunk by chunk, each in a consistent
// read view, no binlog — with its own checkpoint (source-<source>+<pipeline>.json).
// The source's pipelines keep streaming meanwhile. A run killed in the
// middle leaves that checkpoint: the next run resumes the scan from it
// (the chunks done are not read again). Once the scan ended, at the end of
// the run, the pipeline joins the source's checkpoint (its name is added
// to the pipelines it names, its definition and target kept) and its own
// checkpoint is removed: a later run reads nothing again. A crash between
// the two finds the own checkpoint with every table done: the scan ends at
// once and joins again.

// scanName is the state name of the own scan of pipeline of source.
func scanName(source, pipeline string) string { return source + "+" + pipeline }

// ownScans returns the SNAPSHOT only pipelines of pipes that read their
// tables with a scan of their own this run: those whose own scan did not
// end in an earlier run (its checkpoint is there), and those new to the
// source's checkpoint of which a table's snapshot that checkpoint has
// started or ended (a table it never read is read by the source's stream,
// as for any pipeline). Not for a source the caller supplies (a log
// worker's partitions, a test's fixture), which cannot be opened twice;
// nor for the pipelines that stopped alone (alone), which rejoin.
func ownScans(src *planner.SourceDecl, pipes []*planner.Pipeline, alone map[string]*sourceState, store *Store, opts Options) (map[string]bool, error) {
	scans := map[string]bool{}
	if opts.Sources[src.Name] != nil || opts.worker {
		return scans, nil
	}
	var news []*planner.Pipeline
	for _, p := range pipes {
		if p.Snapshot != connectors.SnapshotOnly || alone[p.Name] != nil {
			continue
		}
		own, err := store.Load(scanName(src.Name, p.Name))
		if err != nil {
			return nil, err
		}
		if own != nil {
			scans[p.Name] = true
			continue
		}
		news = append(news, p)
	}
	if len(news) == 0 {
		return scans, nil
	}
	shared, err := store.Load(src.Name)
	if err != nil || shared == nil || len(shared.Pipelines) == 0 {
		return scans, err
	}
	s, err := connectors.NewSource(src.Kind, src.Name, src.DSN, src.Options)
	if err != nil {
		return nil, connectors.Named("source", src.Name, err)
	}
	defer s.Close()
	sm, ok := s.(connectors.SnapshotMarker)
	if !ok {
		return scans, nil
	}
	for _, p := range news {
		if slices.Contains(shared.Pipelines, p.Name) {
			continue
		}
		for _, t := range p.Tables {
			started, err := sm.SnapshotStarted(shared.Mark, t.Ref)
			if err != nil {
				return nil, err
			}
			if started {
				scans[p.Name] = true
				opts.Log.Info("a SNAPSHOT only pipeline new to the checkpoint reads a table whose snapshot the stream has read already: it reads its tables with a scan of its own, while the others go on",
					"source", src.Name, "pipeline", p.Name, "table", t.Ref.String())
				break
			}
		}
	}
	return scans, nil
}

// joinScan joins pipeline p, whose own scan ended, into the checkpoint of
// source decl: the checkpoint names it and records the snapshots of its
// tables it had not started as ended (connectors.SnapshotEnder: a table
// only p reads is not read again when p joins the source's stream), its
// definition, target and tables are kept as the source's run keeps them
// (newPipelineResnapshots), then its own checkpoint is removed.
func joinScan(store *Store, decl *planner.SourceDecl, p *planner.Pipeline) error {
	src := decl.Name
	st, err := store.Load(src)
	if err != nil {
		return err
	}
	if st == nil {
		// (The source's checkpoint was removed by hand meanwhile: the
		// next run starts afresh and reads every table for p then.)
		return nil
	}
	s, err := connectors.NewSource(decl.Kind, decl.Name, decl.DSN, decl.Options)
	if err != nil {
		return connectors.Named("source", decl.Name, err)
	}
	defer s.Close()
	mark := []byte(st.Mark)
	if se, ok := s.(connectors.SnapshotEnder); ok {
		var refs []connectors.TableRef
		for _, t := range p.Tables {
			refs = append(refs, t.Ref)
		}
		if mark, err = se.EndSnapshots(mark, refs); err != nil {
			return err
		}
	}
	if !slices.Contains(st.Pipelines, p.Name) || string(mark) != string(st.Mark) {
		if !slices.Contains(st.Pipelines, p.Name) {
			st.Pipelines = append(st.Pipelines, p.Name)
			sort.Strings(st.Pipelines)
		}
		st.Mark = json.RawMessage(mark)
		if err := store.Save(st); err != nil {
			return err
		}
	}
	defs, err := loadDefinitions(store.Dir, src)
	if err != nil {
		return err
	}
	if defs == nil {
		defs = map[string]string{}
	}
	defs[p.Name] = p.Definition
	data, err := json.MarshalIndent(defs, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(definitionsFile(store.Dir, src), data); err != nil {
		return err
	}
	if err := saveFromTables(store.Dir, src, []*planner.Pipeline{p}); err != nil {
		return err
	}
	if err := saveTargets(store.Dir, src, []*planner.Pipeline{p}); err != nil {
		return err
	}
	return store.remove(scanName(src, p.Name))
}
