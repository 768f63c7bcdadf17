// Command bench measures the export against DuckDB's own readers and
// writers in the same run, and prints one table (make bench). Every figure
// that has a target is a ratio to a reference measured here and now, never
// a time compared with a constant: the machine's speed cancels out.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Run it with make bench: it builds bin/export first.

func main() {
	bin := flag.String("bin", "bin/export", "the export binary")
	out := flag.String("out", "bench/results.json", "where to write the results")
	sizes := flag.String("sizes", "250000,1000000", "tickets for the rebuild runs (memory is measured at each)")
	only := flag.String("only", "", "run only this measurement (rebuild, publish, run, details, rate)")
	runTickets := flag.Int("run-tickets", 100_000, "tickets for the run against the unthrottled simulator")
	flag.Parse()
	b := &bench{bin: *bin, only: *only, runTickets: *runTickets}
	if err := b.run(context.Background(), *sizes); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	b.print(os.Stdout)
	data, _ := json.MarshalIndent(b.results, "", "  ")
	if err := os.WriteFile(*out, append(data, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Printf("\nwritten to %s\n", *out)
}

// child runs the export binary and reports its wall time and peak RSS
// (the kernel's high-water mark of the child, VmHWM).
func child(bin string, env []string, args ...string) (time.Duration, int64, string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var outb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outb, &outb
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss * 1024 // kB on Linux
	}
	if err != nil {
		return took, rss, outb.String(), fmt.Errorf("%s %v: %w\n%s", filepath.Base(bin), args, err, outb.String())
	}
	if os.Getenv("BENCH_VERBOSE") != "" {
		os.Stderr.Write(outb.Bytes())
	}
	return took, rss, outb.String(), nil
}
