// Command testreport reads `go test -json` on stdin and prints what a
// person needs from it: each package's result line as `go test` prints it,
// the whole output of every test that failed, and at the end the slowest
// tests and the time per package, so that a slow test is seen the day it
// lands. It exits 1 when a test or a package failed (or the input holds no
// result at all), so `make test` fails with it.
//
//	go test -json ./... | go run ./tools/testreport -slowest 10
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// line is one line of output and the test that printed it.
type line struct{ test, text string }

// timing is one finished test or package.
type timing struct {
	Package, Test string
	Elapsed       time.Duration
	Failed        bool
}

// report gathers a run's results.
type report struct {
	out    io.Writer
	module string
	// outputs are each package's output lines in the order they came,
	// with the test that printed each ("" for the package itself).
	outputs  map[string][]line
	tests    []timing
	packages []timing
	// subtests are the subtests' times, by package and name: the go
	// command leaves parallel subtests out of their parent's time.
	subtests map[[2]string]time.Duration
	failed   bool
}

func main() {
	slowest := flag.Int("slowest", 10, "how many of the slowest tests to list")
	module := flag.String("module", "", "module path to leave out of package names (default: go.mod's)")
	flag.Parse()
	r := newReport(os.Stdout, *module)
	if r.module == "" {
		r.module = moduleOf("go.mod")
	}
	if err := r.read(os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(1)
	}
	r.summary(*slowest)
	if r.failed || len(r.packages) == 0 {
		os.Exit(1)
	}
}

func newReport(out io.Writer, module string) *report {
	return &report{out: out, module: module, outputs: map[string][]line{}, subtests: map[[2]string]time.Duration{}}
}

// moduleOf reads the module path from a go.mod ("" if it cannot).
func moduleOf(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if m, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.TrimSpace(m) + "/"
		}
	}
	return ""
}

func (r *report) short(pkg string) string {
	if pkg+"/" == r.module {
		return "." // the module's root package
	}
	return strings.TrimPrefix(pkg, r.module)
}

// read follows the events: a line that is not JSON (a build error printed
// by go itself) passes through as it is.
func (r *report) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(r.out, "%s\n", line)
			continue
		}
		r.take(e)
	}
	return sc.Err()
}

func (r *report) take(e event) {
	switch e.Action {
	case "build-output":
		fmt.Fprint(r.out, e.Output) // a compile error
	case "build-fail":
		r.failed = true
	case "output":
		if e.Test == "" {
			// A package's own lines: its result and what ran outside a
			// test (TestMain's panics, a timeout's goroutine dump).
			if strings.HasPrefix(e.Output, "ok ") || strings.HasPrefix(e.Output, "FAIL") || strings.HasPrefix(e.Output, "?") || strings.HasPrefix(e.Output, "---") || strings.HasPrefix(e.Output, "panic:") {
				fmt.Fprint(r.out, e.Output)
				return
			}
		}
		r.outputs[e.Package] = append(r.outputs[e.Package], line{e.Test, e.Output})
	case "pass", "fail", "skip":
		d := time.Duration(e.Elapsed * float64(time.Second))
		failed := e.Action == "fail"
		r.failed = r.failed || failed
		if e.Test == "" {
			r.packages = append(r.packages, timing{Package: e.Package, Elapsed: d, Failed: failed})
			if failed {
				// Output that belongs to no test (a build failure, a
				// panic in TestMain, a timeout).
				fmt.Fprint(r.out, r.testOutput(e.Package, ""))
			}
			return
		}
		if failed && !strings.Contains(e.Test, "/") {
			// A failed test prints whole, subtests included.
			fmt.Fprint(r.out, r.testOutput(e.Package, e.Test))
		}
		if strings.Contains(e.Test, "/") {
			r.subtests[[2]string{e.Package, e.Test}] = d
		} else {
			r.tests = append(r.tests, timing{Package: e.Package, Test: e.Test, Elapsed: d, Failed: failed})
		}
	}
}

// testOutput is what a test printed, its subtests included, in the order
// it came ("": what the package printed outside any test).
func (r *report) testOutput(pkg, test string) string {
	var b strings.Builder
	for _, l := range r.outputs[pkg] {
		if l.test == test || test != "" && strings.HasPrefix(l.test, test+"/") {
			b.WriteString(l.text)
		}
	}
	return b.String()
}

// summary prints the slowest tests and each package's time. A test's
// time is the longer of the go command's and the sum of its innermost
// subtests' (parallel ones are not in the go command's). A package tested
// in several runs (make test splits one) is one line, its runs summed.
func (r *report) summary(n int) {
	tests := append([]timing(nil), r.tests...)
	leaves := r.leafTimes()
	for i, t := range tests {
		if sum := leaves[[2]string{t.Package, t.Test}]; sum > t.Elapsed {
			tests[i].Elapsed = sum
		}
	}
	sort.SliceStable(tests, func(i, j int) bool { return tests[i].Elapsed > tests[j].Elapsed })
	if len(tests) > n {
		tests = tests[:n]
	}
	tw := tabwriter.NewWriter(r.out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nthe %d slowest tests\n", len(tests))
	for _, t := range tests {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", seconds(t.Elapsed), r.short(t.Package), t.Test+mark(t.Failed))
	}
	var pkgs []timing
	at := map[string]int{}
	for _, p := range r.packages {
		if i, ok := at[p.Package]; ok {
			pkgs[i].Elapsed += p.Elapsed
			pkgs[i].Failed = pkgs[i].Failed || p.Failed
			continue
		}
		at[p.Package] = len(pkgs)
		pkgs = append(pkgs, p)
	}
	sort.SliceStable(pkgs, func(i, j int) bool { return pkgs[i].Elapsed > pkgs[j].Elapsed })
	var total time.Duration
	fmt.Fprintf(tw, "\ntime per package\n")
	for _, p := range pkgs {
		total += p.Elapsed
		fmt.Fprintf(tw, "  %s\t%s\n", seconds(p.Elapsed), r.short(p.Package)+mark(p.Failed))
	}
	fmt.Fprintf(tw, "  %s\t(sum of %d packages; they run side by side)\n", seconds(total), len(pkgs))
	tw.Flush()
}

// leafTimes sums, for each top-level test, the times of its subtests
// that have none of their own: an outer subtest's time holds its inner
// ones' when they are not parallel, and none of them when they are.
func (r *report) leafTimes() map[[2]string]time.Duration {
	inner := map[[2]string]bool{} // subtests that have subtests
	for k := range r.subtests {
		for i := strings.LastIndexByte(k[1], '/'); i > 0; i = strings.LastIndexByte(k[1][:i], '/') {
			inner[[2]string{k[0], k[1][:i]}] = true
		}
	}
	sums := map[[2]string]time.Duration{}
	for k, d := range r.subtests {
		if !inner[k] {
			top, _, _ := strings.Cut(k[1], "/")
			sums[[2]string{k[0], top}] += d
		}
	}
	return sums
}

func seconds(d time.Duration) string { return fmt.Sprintf("%7.1fs", d.Seconds()) }

func mark(failed bool) string {
	if failed {
		return "  FAIL"
	}
	return ""
}
