package export

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// step is one command line of a README console block and the lines the
// README shows it printing ("…" stands for anything).
type step struct {
	command string
	prints  []string
}

// readmeSteps reads the first console block after heading in the README.
func readmeSteps(t *testing.T, heading string) []step {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README.md has no %q", heading)
	}
	text = text[i:]
	start := strings.Index(text, "```console\n")
	if start < 0 {
		t.Fatalf("no console block after %q", heading)
	}
	text = text[start+len("```console\n"):]
	text = text[:strings.Index(text, "```")]
	var steps []step
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "$ "):
			steps = append(steps, step{command: strings.TrimPrefix(line, "$ ")})
		case len(steps) == 0:
			t.Fatalf("output before the first command: %q", line)
		case strings.TrimSpace(line) != "…":
			steps[len(steps)-1].prints = append(steps[len(steps)-1].prints, line)
		}
	}
	return steps
}

// shownLine is a README output line as a pattern for one whole line of
// output: "…" matches anything.
func shownLine(line string) *regexp.Regexp {
	parts := strings.Split(line, "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(`(?m)^` + strings.Join(parts, ".*") + `\s*$`)
}

// TestTheREADMEsFirstFiveMinutes types the command lines of the README's
// "The first five minutes" into one bash, as a new user would, with the
// command on PATH under its real name (a symlink to this test binary,
// which runs as the command). Each line must exit 0 and print what the
// README shows after it, so that the README and the program cannot drift
// apart: `export init` would do nothing in bash and print nothing.
func TestTheREADMEsFirstFiveMinutes(t *testing.T) {
	t.Parallel()
	steps := readmeSteps(t, "## The first five minutes")
	if len(steps) < 5 {
		t.Fatalf("only %d command lines in the README's first five minutes", len(steps))
	}
	bin, dir := t.TempDir(), t.TempDir()
	if err := os.Symlink(exportBinary(), filepath.Join(bin, Name)); err != nil {
		t.Fatal(err)
	}
	sh := exec.Command("bash", "--norc", "--noprofile")
	sh.Dir = dir
	sh.Env = append(append(os.Environ(), asBinaryEnv+"=1", "PATH="+bin+":"+os.Getenv("PATH")), testVars(t)...)
	sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the simulator it starts goes with it
	out := newOutput()
	sh.Stdout, sh.Stderr = out, out
	stdin, err := sh.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-sh.Process.Pid, syscall.SIGKILL)
		sh.Wait()
	})
	io.WriteString(stdin, "exec 2>&1\n")
	from := 0
	for i, st := range steps {
		// The exit code is echoed before the marker, in the same write.
		marker := fmt.Sprintf(" __readme step %d done\n", i)
		if _, err := io.WriteString(stdin, st.command+"\n"+`echo "$?`+strings.TrimSuffix(marker, "\n")+`"`+"\n"); err != nil {
			t.Fatalf("bash is gone before %q: %v\n%s", st.command, err, out)
		}
		out.waitFor(t, marker)
		text := out.String()[from:]
		if !strings.Contains(text, "\n0"+marker) && !strings.HasPrefix(text, "0"+marker) {
			t.Fatalf("`%s` failed (the exit code is before \"__readme\"):\n%s", st.command, text)
		}
		// A line may start a program in the background (the simulator):
		// what it prints comes when it comes, so each shown line is
		// waited for, as a person reads it before typing the next.
		for _, want := range st.prints {
			re := shownLine(want)
			deadline := time.Now().Add(patience)
			for !re.MatchString(out.String()[from:]) {
				if time.Now().After(deadline) {
					t.Fatalf("`%s` did not print the README's line\n  %s\nit printed:\n%s", st.command, want, out.String()[from:])
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		from = len(out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "report.html")); err != nil {
		t.Errorf("the README's report line wrote no report.html: %v", err)
	}
}
