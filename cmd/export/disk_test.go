package export

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract/mgr/mgrtest"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/load"
)

// A disk that fills while the run writes the warehouse file (a file-size
// limit in the child process) is a clear error and exit 1, even for a run
// the rate budget made partial; what was committed stays readable, and
// the next run, with room, completes exact.
func TestAFullDiskIsAFailureAndLosesNothing(t *testing.T) {
	t.Parallel()
	srv := mgrtest.NewServer(mgrtest.WithRateLimit(6000, time.Minute), mgrtest.WithTickets(300, 100))
	defer srv.Close()
	dir := t.TempDir()
	cfg, env := simConfig(t, srv, dir)
	setEnv(t, env)
	if code, o, stderr := runCLI(t, "run", "--config", cfg, "--max-requests", "20"); code != exitPartial {
		t.Fatalf("the first, capped run: exit %d\n%s%s", code, o, stderr)
	}
	before, _ := strconv.Atoi(queryCSV(t, cfg, `SELECT count(*) FROM mgr.tickets`))
	if before == 0 {
		t.Fatal("the first run committed no ticket")
	}
	info, err := os.Stat(filepath.Join(dir, "w.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	// A file-size limit a little above the warehouse's size: it cannot
	// grow much. ulimit -f counts blocks: 512 bytes in dash (1024 in
	// bash, a looser limit that still binds).
	blocks := (info.Size() + 64<<10) / 512
	cmd := exec.Command("sh", "-c", fmt.Sprintf(`ulimit -f %d && exec "$0" "$@"`, blocks), exportBinary(), "run", "--config", cfg)
	cmd.Env = append(append(os.Environ(), asBinaryEnv+"=1"), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailure || !strings.Contains(string(out), "File too large") {
		t.Fatalf("a full disk: %v, want exit 1 saying the file could not grow\n%s", err, out)
	}
	// What the first run committed is still there and readable.
	if after, _ := strconv.Atoi(queryCSV(t, cfg, `SELECT count(*) FROM mgr.tickets`)); after < before {
		t.Errorf("after the failure: %d tickets readable, %d before", after, before)
	}
	if code, o, stderr := runCLI(t, "run", "--config", cfg); code != exitOK {
		t.Fatalf("the next run: exit %d\n%s%s", code, o, stderr)
	}
	assertMatchesSimulator(t, srv, cfg)
}

// inMountNamespace runs the export command with args in a private mount
// namespace (unshare -m) after the shell lines in setup, then the lines in
// after; the mounts die with it, nothing on the host changes. The tests run
// as root, for whom file modes are no obstacle: only a read-only or full
// file system is. Where no namespace can be made, the test is skipped and
// says why.
func inMountNamespace(t *testing.T, env []string, setup, after string, args ...string) (int, string) {
	t.Helper()
	if out, err := exec.Command("unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt").CombinedOutput(); err != nil {
		t.Skipf("no private mount namespace here (unshare -m: %v %s): the storage faults need one", err, out)
	}
	script := "set -e\n" + setup + "\nset +e\n\"$0\" \"$@\"\ncode=$?\n" + after + "\nexit $code\n"
	cmd := exec.Command("unshare", append([]string{"-m", "sh", "-c", script, exportBinary()}, args...)...)
	cmd.Env = append(append(os.Environ(), asBinaryEnv+"=1"), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("unshare: %v\n%s", err, out)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// cappedFirstRun starts an MGR simulator with two shops of the given
// tickets and exports their tickets and customers into a new directory
// with a run capped at 6 requests (exit 3): a warehouse and a Parquet tree
// with work still to do. It returns the config and the keys' environment.
func cappedFirstRun(t *testing.T, north, south int) (srv *mgrtest.Server, dir, cfg string, env []string) {
	t.Helper()
	srv = mgrtest.NewServer(mgrtest.WithRateLimit(6000, time.Minute), mgrtest.WithTickets(north, south))
	t.Cleanup(srv.Close)
	dir = t.TempDir()
	cfg, env = simConfig(t, srv, dir, "tickets", "customers")
	setEnv(t, env)
	if code, o, stderr := runCLI(t, "run", "--config", cfg, "--max-requests", "6"); code != exitPartial {
		t.Fatalf("the first, capped run: exit %d\n%s%s", code, o, stderr)
	}
	return srv, dir, cfg, env
}

// treeSums are the SHA-256 sums of the files a reader sees in a Parquet
// tree (data files and manifests), by path.
func treeSums(t *testing.T, root string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".parquet") || d.Name() == load.ManifestFile) {
			b, _ := os.ReadFile(path)
			rel, _ := filepath.Rel(root, path)
			sums[rel] = fmt.Sprintf("%x", sha256.Sum256(b))
		}
		return nil
	})
	return sums
}

// A read-only target — the whole directory, or only the Parquet tree — is
// a clear error naming it, exit 1. The warehouse and the tree stay as they
// were and readable; with the tree alone read-only the run's rows are
// committed and the next run, the tree writable again, publishes them.
func TestAReadOnlyTargetIsAClearFailure(t *testing.T) {
	t.Parallel()
	srv, dir, cfg, env := cappedFirstRun(t, 200, 80)
	pq := filepath.Join(dir, "pq")
	before, tickets := treeSums(t, pq), queryCSV(t, cfg, `SELECT count(*) FROM mgr.tickets`)
	wh, _ := os.ReadFile(filepath.Join(dir, "w.duckdb"))

	readOnly := func(path string) string {
		return fmt.Sprintf("mount --bind %[1]q %[1]q\nmount -o remount,bind,ro %[1]q", path)
	}
	code, out := inMountNamespace(t, env, readOnly(dir), "", "run", "--config", cfg)
	if code != exitFailure || !strings.Contains(out, "read-only file system") || !strings.Contains(out, dir) {
		t.Fatalf("everything read-only: exit %d, want 1 naming the path and the cause\n%s", code, out)
	}
	if now, _ := os.ReadFile(filepath.Join(dir, "w.duckdb")); !bytes.Equal(now, wh) {
		t.Error("the warehouse file changed")
	}

	code, out = inMountNamespace(t, env, readOnly(pq), "", "run", "--config", cfg)
	if code != exitFailure || !strings.Contains(out, "read-only file system") || !strings.Contains(out, "Parquet") {
		t.Fatalf("the Parquet tree read-only: exit %d, want 1 naming the Parquet tree and the cause\n%s", code, out)
	}
	if after := treeSums(t, pq); !maps.Equal(after, before) || len(before) == 0 {
		t.Errorf("the Parquet tree changed under a read-only mount: %d files before, %d after", len(before), len(after))
	}
	if got := queryCSV(t, cfg, `SELECT count(*) FROM mgr.tickets`); got == tickets {
		t.Errorf("the warehouse holds %s tickets, as before: the run's rows were not committed", got)
	}
	if code, o, stderr := runCLI(t, "run", "--config", cfg); code != exitOK {
		t.Fatalf("the next run: exit %d\n%s%s", code, o, stderr)
	}
	assertMatchesSimulatorTables(t, srv, cfg, "mgr.tickets", "mgr.customers")
	assertParquetIsTheWarehouse(t, cfg, pq, "tickets")
}

// assertParquetIsTheWarehouse compares an MGR table's Parquet files with
// its warehouse table, row for row.
func assertParquetIsTheWarehouse(t *testing.T, cfg, pq, table string) {
	t.Helper()
	tb := sources.Table("mgr." + table)
	cols := businessColumns(tb)
	got := queryCSV(t, cfg, fmt.Sprintf(`SELECT count(*) FROM ((SELECT %[1]s FROM read_parquet('%[2]s/mgr/%[3]s/**/*.parquet', hive_partitioning = true) EXCEPT ALL SELECT %[1]s FROM mgr.%[3]s)
		UNION ALL (SELECT %[1]s FROM mgr.%[3]s EXCEPT ALL SELECT %[1]s FROM read_parquet('%[2]s/mgr/%[3]s/**/*.parquet', hive_partitioning = true)))`, cols, pq, table))
	if got != "0" {
		t.Errorf("the Parquet files of mgr.%s differ from the warehouse in %s rows", table, got)
	}
}

// A disk that fills during a Parquet publish (a small file system mounted
// over the tree, holding a copy of it; what the run leaves on it is copied
// back onto the tree, as a real full disk would have kept it) is a clear
// error and exit 1; every file in the tree still reads and none is
// partial, and the next run, with room, publishes everything.
func TestAFullDiskDuringPublishLosesNothing(t *testing.T) {
	t.Parallel()
	srv, dir, cfg, env := cappedFirstRun(t, 900, 400)
	pq, real := filepath.Join(dir, "pq"), filepath.Join(dir, "real")
	before := treeSums(t, pq)
	var size int64
	filepath.WalkDir(pq, func(_ string, d fs.DirEntry, err error) error {
		if info, ierr := d.Info(); err == nil && ierr == nil {
			size += info.Size() + 4096
		}
		return nil
	})
	os.MkdirAll(real, 0o755)
	// Room for what is there and 32 KiB: the publish needs more.
	setup := fmt.Sprintf("mount --bind %[1]q %[2]q\nmount -t tmpfs -o size=%[3]dk tmpfs %[1]q\ncp -a %[2]q/. %[1]q/", pq, real, size/1024+32)
	after := fmt.Sprintf("rm -rf %[2]q/* %[2]q/.publish\ncp -a %[1]q/. %[2]q/", pq, real)
	code, out := inMountNamespace(t, env, setup, after, "run", "--config", cfg)
	if code != exitFailure || !strings.Contains(strings.ToLower(out), "no space left on device") || !strings.Contains(out, "Parquet") || !strings.Contains(out, "parquet: the publish stopped after") || !strings.Contains(out, ": ok (rows committed; the Parquet publish stopped) in ") {
		t.Fatalf("a full disk during the publish: exit %d, want 1 naming the Parquet publish and the cause\n%s", code, out)
	}
	// The tree the full disk left: the files it had, each whole, or a
	// newer whole file; nothing partial where a reader looks.
	left := treeSums(t, pq)
	for f := range before {
		if _, ok := left[f]; !ok {
			t.Errorf("%s vanished from the tree on the full disk", f)
		}
	}
	for f := range left {
		if strings.HasSuffix(f, ".parquet") {
			if got := queryCSV(t, cfg, fmt.Sprintf(`SELECT count(*) > 0 FROM read_parquet('%s')`, filepath.Join(pq, f))); got != "true" {
				t.Errorf("%s does not read after the full disk: %s", f, got)
			}
		}
	}
	if maps.Equal(left, before) {
		t.Log("the disk filled before any partition was replaced")
	}
	if code, o, stderr := runCLI(t, "run", "--config", cfg); code != exitOK {
		t.Fatalf("the next run: exit %d\n%s%s", code, o, stderr)
	}
	assertMatchesSimulatorTables(t, srv, cfg, "mgr.tickets", "mgr.customers")
	assertParquetIsTheWarehouse(t, cfg, pq, "tickets")
	assertParquetIsTheWarehouse(t, cfg, pq, "customers")
}
