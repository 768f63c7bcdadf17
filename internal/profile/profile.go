// Package profile writes the profiles that explain `make bench`'s figures:
// a CPU profile of the whole command, a heap profile taken when the Go
// heap is at its largest, and an execution trace (where each goroutine
// waited: the network, a channel, a lock). Each is off unless its variable
// names a file; go tool pprof reads the profiles, go tool trace the trace.
package profile

import (
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"sync"
	"time"
)

const (
	// CPUEnv names the file for a CPU profile of the command.
	CPUEnv = "EXPORT_CPU_PROFILE"
	// HeapEnv names the file for a heap profile at the heap's peak: it is
	// rewritten each time the heap in use passes its largest size so far
	// (sampled every 200 ms), so it shows what the peak held.
	HeapEnv = "EXPORT_HEAP_PROFILE"
	// TraceEnv names the file for an execution trace of the command: what
	// a CPU profile cannot show, the time goroutines spend waiting
	// (go tool trace -pprof=net|sync|syscall FILE).
	TraceEnv = "EXPORT_GO_TRACE"
)

// Start starts the profiles the environment asks for; the returned
// function stops them and writes what is left.
func Start() (stop func()) {
	var stops []func()
	if path := os.Getenv(CPUEnv); path != "" {
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
		}
	}
	if path := os.Getenv(HeapEnv); path != "" {
		stops = append(stops, peakHeap(path, 200*time.Millisecond))
	}
	if path := os.Getenv(TraceEnv); path != "" {
		if f, err := os.Create(path); err == nil && trace.Start(f) == nil {
			stops = append(stops, func() { trace.Stop(); f.Close() })
		}
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}

// peakHeap samples the heap in use every interval and writes a heap
// profile to path whenever it is larger than at any sample before.
func peakHeap(path string, every time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var peak uint64
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse <= peak {
				continue
			}
			peak = m.HeapInuse
			if f, err := os.Create(path); err == nil {
				pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
