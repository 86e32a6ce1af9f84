package main

import (
	"log/slog"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"time"
)

// watchHeapPeak writes a heap profile to file whenever the heap's live
// objects grow 10% past the last profile written, so that the file ends up
// holding the profile nearest the run's peak (go tool pprof
// -sample_index=inuse_space). It is a development aid (apply's hidden
// --heap-profile): where a bounded run's memory goes. The returned stop
// ends the watch.
func watchHeapPeak(file string, log *slog.Logger) (stop func()) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var written uint64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			metrics.Read(sample)
			live := sample[0].Value.Uint64()
			if live < written+written/10 || live < 8<<20 {
				continue
			}
			written = live
			if err := writeHeapProfile(file); err != nil {
				log.Warn("heap profile", "file", file, "err", err)
				return
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func writeHeapProfile(file string) error {
	f, err := os.Create(file + ".tmp")
	if err != nil {
		return err
	}
	// The profile's in-use figures are as of the last collection: one now
	// makes them the current live heap.
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(file+".tmp", file)
}

// startCPUProfile starts the CPU profile --cpu-profile asks for (none
// for ""); stop ends it and closes its file.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
