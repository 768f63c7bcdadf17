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
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// Run it with make bench: it builds bin/repairshop-export first.

func main() {
	if len(os.Args) > 2 && os.Args[1] == launchFlag {
		launch(os.Args[2:])
	}
	bin := flag.String("bin", "bin/repairshop-export", "the export binary")
	out := flag.String("out", "bench/results.json", "where to write the results")
	sizes := flag.String("sizes", "250000,1000000", "tickets for the rebuild runs (memory is measured at each)")
	only := flag.String("only", "", "run only this measurement (rebuild, updates, publish, lake, run, details, rate, receive, accounts, nightly)")
	accounts := flag.String("accounts", "10,50,200", "accounts (half MGR, half RepairOps) for the scaling runs")
	accountTickets := flag.Int("account-tickets", 20_000, "tickets per account in the scaling runs")
	receiveFor := flag.Duration("receive-for", time.Minute, "how long the senders post to the webhook receiver")
	runTickets := flag.Int("run-tickets", 100_000, "tickets for the run against the unthrottled simulator")
	nightlyRuns := flag.Int("nightly-runs", 40, "runs (nights) the nightly rebuild replays")
	flag.Parse()
	b := &bench{bin: *bin, only: *only, runTickets: *runTickets, receiveFor: *receiveFor, accounts: *accounts, accountTickets: *accountTickets, nightlyRuns: *nightlyRuns}
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

// child runs the export binary and reports its wall time and peak RSS.
//
// The peak is the child's own: it is started by a launcher (this program
// again, with launchFlag, before it allocates anything). Linux carries a
// process's high-water mark across exec, and Go starts children with
// vfork, so a child of this process would report this process's RSS (a
// gigabyte after the DuckDB references) whenever that is larger than its
// own; the launcher's is a few MB.
func child(bin string, env []string, args ...string) (time.Duration, int64, string, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, 0, "", err
	}
	rssR, rssW, err := os.Pipe()
	if err != nil {
		return 0, 0, "", err
	}
	defer rssR.Close()
	cmd := exec.Command(self, append([]string{launchFlag, bin}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var outb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outb, &outb
	cmd.ExtraFiles = []*os.File{rssW} // fd 3
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	rssW.Close()
	var rss int64
	fmt.Fscan(rssR, &rss)
	if err != nil {
		return took, rss, outb.String(), fmt.Errorf("%s %v: %w\n%s", filepath.Base(bin), args, err, outb.String())
	}
	if os.Getenv("BENCH_VERBOSE") != "" {
		os.Stderr.Write(outb.Bytes())
	}
	return took, rss, outb.String(), nil
}

// launchFlag makes this program the launcher of one child (see child).
const launchFlag = "-launch"

// launch runs args as a child with this process's input and output, writes
// the child's peak RSS in bytes to fd 3 and exits with its exit code.
func launch(args []string) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// A signal to the launcher is for the child (see startChild).
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	err := cmd.Start()
	if err == nil {
		go func() {
			for s := range sigs {
				cmd.Process.Signal(s)
			}
		}()
		err = cmd.Wait()
	}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			fmt.Fprint(os.NewFile(3, "rss"), ru.Maxrss*1024) // kB on Linux
		}
	}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			os.Exit(ee.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "bench: launch:", err)
		os.Exit(1)
	}
	os.Exit(0)
}
