package profile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Both profiles are written where their variables say, as gzipped pprof
// files; the heap's is written while the command still runs, once the
// heap has grown, and the CPU's when it stops.
func TestProfilesAreWrittenWhereTheEnvironmentSays(t *testing.T) {
	dir := t.TempDir()
	cpu, heap, tr := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "heap.prof"), filepath.Join(dir, "go.trace")
	t.Setenv(CPUEnv, cpu)
	t.Setenv(HeapEnv, heap)
	t.Setenv(TraceEnv, tr)
	stop := Start()
	var held [][]byte
	for deadline := time.Now().Add(time.Minute); ; {
		held = append(held, make([]byte, 1<<20))
		if _, err := os.Stat(heap); err == nil {
			break
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("no heap profile after a minute, holding %d MB", len(held))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(cpu); err != nil {
		t.Errorf("the CPU profile's file is not there while it runs: %v", err)
	}
	stop()
	for _, f := range []string{cpu, heap} {
		b, err := os.ReadFile(f)
		if err != nil || len(b) < 20 || !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
			t.Errorf("%s: %d bytes, %v; want a gzipped profile", filepath.Base(f), len(b), err)
		}
	}
	// An execution trace starts "go 1.NN trace" and is parsed by go tool trace.
	if b, err := os.ReadFile(tr); err != nil || !bytes.HasPrefix(b, []byte("go 1.")) || !bytes.Contains(b[:16], []byte(" trace")) {
		t.Errorf("%s: %.16q, %v; want an execution trace", filepath.Base(tr), b, err)
	}
}

func TestNothingIsWrittenUnlessAsked(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv(CPUEnv, "")
	t.Setenv(HeapEnv, "")
	t.Setenv(TraceEnv, "")
	Start()()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("%d files written with no profile asked for", len(entries))
	}
}
