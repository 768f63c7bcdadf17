package export

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract/mgr/mgrtest"
)

// A warehouse path that holds a foreign file or a truncated warehouse is
// a clear error naming the file, exit 1, and the file is left as it was;
// the Parquet tree a good run published stays readable.
func TestAForeignOrCorruptWarehouseIsLeftAlone(t *testing.T) {
	t.Parallel()
	srv := mgrtest.NewServer(mgrtest.WithRateLimit(6000, time.Minute), mgrtest.WithTickets(40, 20))
	defer srv.Close()
	dir := t.TempDir()
	cfg, env := simConfig(t, srv, dir, "tickets", "customers")
	setEnv(t, env)
	if code, out, stderr := runCLI(t, "run", "--config", cfg); code != exitOK {
		t.Fatalf("run: exit %d\n%s%s", code, out, stderr)
	}
	good, err := os.ReadFile(filepath.Join(dir, "w.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	before := queryCSV(t, cfg, `SELECT count(*) FROM read_parquet('`+filepath.Join(dir, "pq")+`/mgr/tickets/**/*.parquet')`)
	for name, body := range map[string][]byte{
		"a foreign file":        []byte("account,amount\nnorth,12.50\n"),
		"a truncated warehouse": good[:len(good)/2],
	} {
		path := filepath.Join(dir, "w.duckdb")
		if err := os.WriteFile(path, body, 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runCLI(t, "run", "--config", cfg)
		if code != exitFailure || !strings.Contains(stderr, "w.duckdb") {
			t.Errorf("%s: exit %d, %s; want exit 1 naming the file", name, code, stderr)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, body) {
			t.Errorf("%s: the file was changed", name)
		}
	}
	os.WriteFile(filepath.Join(dir, "w.duckdb"), good, 0o644)
	if got := queryCSV(t, cfg, `SELECT count(*) FROM read_parquet('`+filepath.Join(dir, "pq")+`/mgr/tickets/**/*.parquet')`); got != before || got == "0" {
		t.Errorf("the Parquet tree: %s tickets, before %s", got, before)
	}
}
