package export

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/extract/mgr/mgrtest"
	"github.com/repairshop/export/extract/repairops/repairopstest"
	"github.com/repairshop/export/extract/rest"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/pipeline"
	"github.com/repairshop/export/schema"
)

// chaosKillsEnv and chaosSeedEnv set how many kills TestRandomKillsConverge
// makes (default 10: each crash point at least once, the bounded proof of
// make test) and its seed (default 16): `make chaos` asks for hundreds with
// a new seed each time, and a failure prints the seed to replay.
const (
	chaosKillsEnv = "EXPORT_CHAOS_KILLS"
	chaosSeedEnv  = "EXPORT_CHAOS_SEED"
)

// crashPoint is where a kill may land: the kill comes at a seeded-random
// pass in 1..most, small enough that a run with little left to do (MGR
// lists everything again every run) still passes there. The points that
// come with every page go first, while there is most to do; the publish
// points come once a run has extracted everything.
type crashPoint struct {
	name, what string
	most       int
}

var crashPoints = []crashPoint{
	{rest.HookAnswered, "mid-request (answered, body unread)", 20},
	{pipeline.HookTransforming, "mid-transform", 20},
	{archive.HookTornFrame, "mid-archive-write (half a frame)", 20},
	{load.HookBeforeCommit, "inside the DuckDB transaction", 3},
	{load.HookBeforeRename, "mid-Parquet-publish (a file under its temporary name)", 12},
	{pipeline.HookArchived, "between archive and stage", 20},
	{load.HookAfterCommit, "after a commit, before the next", 3},
	{load.HookAfterRename, "mid-Parquet-publish (a partition in place)", 12},
	{load.HookBeforeManifest, "mid-Parquet-publish (manifest aside)", 4},
}

// TestRandomKillsConverge runs a real export of both sources, two
// accounts each, and SIGKILLs it at seeded-random moments — mid-request,
// mid-transform, inside the DuckDB transaction, mid-Parquet-publish,
// mid-archive-write — restarting it each time, while a reader polls the
// Parquet tree and its manifests. Then one run finishes. Every table
// (children, history), the cursors, the detail queue and every Parquet
// partition must equal those of one uninterrupted run, and the reader
// must never have failed.
func TestRandomKillsConverge(t *testing.T) {
	t.Parallel()
	kills, seed := len(crashPoints)+1, uint64(16)
	if n, err := strconv.Atoi(os.Getenv(chaosKillsEnv)); err == nil && n > 0 {
		kills = n
	}
	if n, err := strconv.ParseUint(os.Getenv(chaosSeedEnv), 10, 64); err == nil {
		seed = n
	}
	t.Logf("%d kills, seed %d (replay: %s=%d %s=%d)", kills, seed, chaosKillsEnv, kills, chaosSeedEnv, seed)
	mgrSrv := mgrtest.NewServer(mgrtest.WithRateLimit(1_000_000, time.Minute), mgrtest.WithTickets(100, 50))
	defer mgrSrv.Close()
	roSrv := repairopstest.NewServer(repairopstest.WithQuota(1_000_000, time.Hour), repairopstest.WithTickets(60, 30))
	defer roSrv.Close()
	text, _ := bothSources(t, mgrSrv, roSrv, "")
	refDir, crashDir := t.TempDir(), t.TempDir()
	refCfg, crashCfg := writeConfig(t, refDir, text), writeConfig(t, crashDir, text)

	began := time.Now()
	cmd, out := startExport(t, []string{checkpointEnv + "=15"}, "run", "--config", refCfg)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	t.Logf("the uninterrupted run took %v", time.Since(began).Round(time.Millisecond))

	rd := startParquetReader(t, filepath.Join(crashDir, "pq"))
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	landed := map[string]int{}
	for i := 0; i < kills; i++ {
		p := crashPoints[i%len(crashPoints)]
		spec := fmt.Sprintf("%s#%d", p.name, 1+rng.IntN(p.most))
		cmd, out := startExport(t, []string{crashEnv + "=" + spec, checkpointEnv + "=15"}, "run", "--config", crashCfg)
		err := cmd.Wait()
		switch {
		case killed(err) && strings.Contains(out.String(), "crash point "+spec+" reached"):
			landed[p.what]++
		case err != nil:
			t.Fatalf("run %d (kill at %s): %v\n%s", i+1, spec, err, out)
		}
	}
	cmd, out = startExport(t, nil, "run", "--config", crashCfg)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	reads, failures := rd.stop()
	for _, f := range failures {
		t.Errorf("the reader failed during the kills: %s", f)
	}
	if reads.files == 0 || reads.manifests == 0 {
		t.Errorf("the reader read %d files and %d manifests: it never saw the tree", reads.files, reads.manifests)
	}
	total := 0
	for _, p := range crashPoints {
		total += landed[p.what]
	}
	for _, what := range []string{"mid-request", "mid-transform", "inside the DuckDB transaction", "mid-Parquet-publish", "mid-archive-write"} {
		n := 0
		for w, c := range landed {
			if strings.HasPrefix(w, what) {
				n += c
			}
		}
		if n == 0 {
			t.Errorf("no kill landed %s (landed: %v)", what, landed)
		}
	}
	t.Logf("%d of %d kills landed: %v; the reader read %d Parquet files and %d manifests meanwhile", total, kills, landed, reads.files, reads.manifests)

	assertConverged(t, refDir, crashDir)
}

// assertConverged compares the warehouse and the Parquet tree under
// crashDir with the uninterrupted run's under refDir, row for row.
func assertConverged(t *testing.T, refDir, crashDir string) {
	t.Helper()
	_, count, diff := compareWarehouses(t, refDir, crashDir)
	var tables []*schema.Table
	for _, tb := range sources.Tables() {
		tables = append(tables, tb)
		if tb.HistoryTable != nil {
			tables = append(tables, tb.HistoryTable)
		}
	}
	for _, tb := range tables {
		if n := diff(tb); n != "0" {
			t.Errorf("%s: %s rows differ from the uninterrupted run", tb.FullName(), n)
		}
	}
	// Cursors without what names a run or its start.
	cursors := `SELECT account, resource, json_merge_patch(value, '{"run_id": null, "pass_started": null, "last_full": null}') FROM %smeta.cursors`
	if n := diffSQL(count, fmt.Sprintf(cursors, ""), fmt.Sprintf(cursors, "crashed.")); n != "0" {
		t.Errorf("meta.cursors: %s differ from the uninterrupted run", n)
	}
	queue := `SELECT account, resource, id, list_fingerprint, detail_fingerprint, outcome FROM %smeta.details`
	if n := diffSQL(count, fmt.Sprintf(queue, ""), fmt.Sprintf(queue, "crashed.")); n != "0" {
		t.Errorf("the detail queue (meta.details): %s rows differ from the uninterrupted run", n)
	}
	if n := count(`SELECT count(*) FROM crashed.meta.publish_queue`); n != "0" {
		t.Errorf("%s partitions still queued for Parquet after the final run", n)
	}
	// Every Parquet partition, row for row.
	parts := 0
	for _, tb := range tables {
		ref := filepath.Join(refDir, "pq", tb.Source, tb.Name)
		files, _ := filepath.Glob(filepath.Join(ref, "account=*"))
		if len(files) == 0 {
			continue
		}
		pq := func(dir string) string {
			return fmt.Sprintf(`SELECT %s FROM read_parquet('%s/**/*.parquet', hive_partitioning = true)`, businessColumns(tb), filepath.Join(dir, "pq", tb.Source, tb.Name))
		}
		if n := diffSQL(count, pq(refDir), pq(crashDir)); n != "0" {
			t.Errorf("Parquet %s: %s rows differ from the uninterrupted run", tb.FullName(), n)
		}
		parts++
	}
	if parts == 0 {
		t.Error("no Parquet table to compare")
	}
	var temps []string
	filepath.WalkDir(filepath.Join(crashDir, "pq"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".tmp") {
			temps = append(temps, path)
		}
		return nil
	})
	if len(temps) > 0 {
		t.Errorf("temporary files left in the Parquet tree: %v", temps)
	}
}

// parquetReader polls a Parquet tree as a BI tool would: every file it
// finds read whole, every manifest parsed and its partitions read.
type parquetReader struct {
	done     chan struct{}
	finished sync.WaitGroup
	mu       sync.Mutex
	reads    struct{ files, manifests int }
	failures []string
}

func startParquetReader(t *testing.T, root string) *parquetReader {
	t.Helper()
	db, err := load.Open(ctx, filepath.Join(t.TempDir(), "reader.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	r := &parquetReader{done: make(chan struct{})}
	r.finished.Add(1)
	go func() {
		defer r.finished.Done()
		defer db.Close()
		fail := func(format string, args ...any) {
			r.mu.Lock()
			if len(r.failures) < 20 {
				r.failures = append(r.failures, fmt.Sprintf(format, args...))
			}
			r.mu.Unlock()
		}
		readFile := func(f string) {
			if _, err := db.Query(ctx, fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s')`, f)); err != nil {
				if _, serr := os.Stat(f); serr == nil {
					fail("%s: %v", f, err)
				}
				return
			}
			r.mu.Lock()
			r.reads.files++
			r.mu.Unlock()
		}
		for {
			select {
			case <-r.done:
				return
			default:
			}
			filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
				switch {
				case err != nil || d.IsDir():
				case strings.HasSuffix(path, ".parquet"):
					readFile(path)
				case d.Name() == load.ManifestFile:
					b, err := os.ReadFile(path)
					var m load.Manifest
					if err == nil {
						if err := json.Unmarshal(b, &m); err != nil {
							fail("manifest %s: %v", path, err)
							return nil
						}
					}
					for _, p := range m.Partitions {
						readFile(filepath.Join(filepath.Dir(path), p.Path))
					}
					r.mu.Lock()
					r.reads.manifests++
					r.mu.Unlock()
				}
				return nil
			})
			time.Sleep(100 * time.Millisecond) // a busy BI tool, not a second export's worth of CPU
		}
	}()
	return r
}

func (r *parquetReader) stop() (struct{ files, manifests int }, []string) {
	close(r.done)
	r.finished.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reads, r.failures
}
