package lake_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/repairshop/export/cmd/export"
	"github.com/repairshop/export/extract/mgr/mgrtest"
	"github.com/repairshop/export/extract/repairops/repairopstest"
	"github.com/repairshop/export/internal/icebergread"
	"github.com/repairshop/export/lake"
)

// asBinaryEnv makes the test binary the export command, so that tests
// run (and kill) real `repairshop-export` processes, several at once.
const asBinaryEnv = "LAKE_TEST_AS_BINARY"

// binaryEnv names a built export binary (make test sets it to
// bin/repairshop-export): the tests that run many processes use it, as
// the race detector slows the test binary's processes several times over.
// Without it they run the test binary too.
const binaryEnv = "EXPORT_TEST_BINARY"

func TestMain(m *testing.M) {
	if os.Getenv(asBinaryEnv) == "1" {
		os.Exit(export.Main())
	}
	state, err := os.MkdirTemp("", "lake-state-")
	if err != nil {
		panic(err)
	}
	os.Setenv("EXPORT_STATE_DIR", state)
	code := m.Run()
	os.RemoveAll(state)
	os.Exit(code)
}

// sims are the two simulators the hosts export from.
type sims struct {
	mgr *mgrtest.Server
	ro  *repairopstest.Server
}

func startSims(t *testing.T) sims {
	t.Helper()
	s := sims{
		mgr: mgrtest.NewServer(mgrtest.WithRateLimit(1_000_000, time.Minute), mgrtest.WithTickets(40, 30)),
		ro:  repairopstest.NewServer(repairopstest.WithQuota(1_000_000, time.Hour), repairopstest.WithTickets(30, 20)),
	}
	t.Cleanup(s.mgr.Close)
	t.Cleanup(s.ro.Close)
	return s
}

// account is one configured account: its name, and the simulator shop
// (MGR) or organisation (RepairOps) whose key it uses.
type account struct{ name, source, shop string }

// host is one exporting host: its folder, config (local: the same
// without lake:) and environment. Its processes are the test binary
// (under the race detector when the test is), unless built is set and
// binaryEnv names a binary.
type host struct {
	dir, config, local string
	env                []string
	built              bool
}

// newHost writes a host's config: its accounts, and lake (the lake:
// block's lines, indented).
func newHost(t *testing.T, s sims, accounts []account, lakeBlock string, env ...string) host {
	t.Helper()
	dir := t.TempDir()
	env = slices.Clone(env) // each host its own
	var b strings.Builder
	b.WriteString("warehouse: ./w.duckdb\nparquet: ./pq\nstate_dir: ./state\naccounts:\n")
	for _, a := range accounts {
		keyEnv := "TEST_" + strings.ToUpper(strings.ReplaceAll(a.name, "-", "_")) + "_KEY"
		switch a.source {
		case "mgr":
			env = append(env, keyEnv+"="+s.mgr.Shop(a.shop).Key)
			fmt.Fprintf(&b, "  - {name: %s, source: mgr, base_url: %q, api_key_env: %s, currency: %s, requests_per_minute: 1000000, override_documented_limit: true}\n", a.name, s.mgr.URL, keyEnv, s.mgr.Shop(a.shop).Currency)
		case "repairops":
			env = append(env, keyEnv+"="+s.ro.Org(a.shop).Key)
			fmt.Fprintf(&b, "  - {name: %s, source: repairops, base_url: %q, api_key_env: %s, currency: %s, requests_per_hour: 1000000, override_documented_limit: true}\n", a.name, s.ro.URL, keyEnv, repairopstest.Currency)
		}
	}
	h := host{dir: dir, config: filepath.Join(dir, "export.yaml"), local: filepath.Join(dir, "local.yaml"), env: env}
	if err := os.WriteFile(h.local, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if lakeBlock != "" {
		b.WriteString("lake:\n" + lakeBlock)
	}
	if err := os.WriteFile(h.config, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return h
}

// command is the export command as a process of this host.
func (h host) command(args ...string) *exec.Cmd {
	bin := os.Args[0]
	if b := os.Getenv(binaryEnv); h.built && b != "" {
		bin = b
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = h.dir
	cmd.Env = append(append(os.Environ(), asBinaryEnv+"=1", "EXPORT_THREADS=1"), h.env...)
	return cmd
}

// builtBinary makes a host's processes the built binary, if there is one.
func (h host) builtBinary() host {
	h.built = true
	return h
}

// run runs the export command to its end: exit code and output.
func (h host) run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	out, err := h.command(args...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	}
	t.Fatalf("%v: %v", args, err)
	return 0, ""
}

// totals are a relation's rows and DECIMAL sums per account, as text:
// "account: rows=…, total=…, …".
type totals map[string]string

// warehouseTotals reads every lake target's totals from a warehouse
// file, through DuckDB's SQL on the tables and views themselves.
func warehouseTotals(t *testing.T, path string) map[string]totals {
	t.Helper()
	db, err := sql.Open("duckdb", path+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]totals{}
	for _, tg := range lake.AllTargets() {
		out[tg.FullName()] = aggregate(t, db, fmt.Sprintf(`%q.%q`, tg.Namespace, tg.Name), decimals(t, db, tg.Namespace, tg.Name))
	}
	return out
}

// decimals are a warehouse relation's DECIMAL columns.
func decimals(t *testing.T, db *sql.DB, schemaName, name string) []string {
	t.Helper()
	rows, err := db.Query(`SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? AND data_type LIKE 'DECIMAL%' ORDER BY ordinal_position`, schemaName, name)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		rows.Scan(&c)
		out = append(out, c)
	}
	return out
}

// aggregate is a relation's totals per account.
func aggregate(t *testing.T, db *sql.DB, relation string, decimals []string) totals {
	t.Helper()
	sel := []string{"account", "'rows=' || count(*)"}
	for _, c := range decimals {
		sel = append(sel, fmt.Sprintf(`'%s=' || coalesce(sum(%q)::VARCHAR, 'null')`, c, c))
	}
	q := fmt.Sprintf(`SELECT %s FROM %s GROUP BY account`, strings.Join(sel, ", "), relation)
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	out := totals{}
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out[vals[0]] = strings.Join(vals[1:], ", ")
	}
	return out
}

// lakeView is what the independent reader sees of the lake.
type lakeView struct {
	totals    map[string]totals
	snapshots map[string]int64
	files     map[string][]icebergread.DataFile
}

// readLake reads every target's current snapshot with the independent
// reader (the catalog's own table, metadata.json, Avro manifests) and
// sums its live data files with DuckDB, per account; decimals names each
// table's DECIMAL columns.
func readLake(t *testing.T, catalog *sql.DB, r icebergread.Reader, decimalsOf map[string][]string) lakeView {
	t.Helper()
	ctx := context.Background()
	duck, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer duck.Close()
	scratch := t.TempDir()
	v := lakeView{totals: map[string]totals{}, snapshots: map[string]int64{}, files: map[string][]icebergread.DataFile{}}
	for _, tg := range lake.AllTargets() {
		loc, err := icebergread.MetadataLocation(ctx, catalog, lake.CatalogName, tg.Namespace, tg.Name)
		if err != nil {
			t.Fatalf("catalog row of %s: %v", tg.FullName(), err)
		}
		if loc == "" {
			continue
		}
		snap, err := r.Current(loc)
		if err != nil {
			t.Fatalf("%s: %v", tg.FullName(), err)
		}
		v.snapshots[tg.FullName()] = snap.ID
		v.files[tg.FullName()] = snap.Files
		if len(snap.Files) == 0 {
			v.totals[tg.FullName()] = totals{}
			continue
		}
		var local []string
		for i, f := range snap.Files {
			p := f.Path
			if strings.HasPrefix(p, "s3://") {
				b, err := r.Read(p)
				if err != nil {
					t.Fatal(err)
				}
				p = filepath.Join(scratch, fmt.Sprintf("%s-%d.parquet", tg.FullName(), i))
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			local = append(local, "'"+strings.TrimPrefix(p, "file://")+"'")
		}
		v.totals[tg.FullName()] = aggregate(t, duck, "read_parquet(["+strings.Join(local, ", ")+"])", decimalsOf[tg.FullName()])
	}
	return v
}

// decimalsOf are every target's DECIMAL columns in a warehouse.
func decimalsOf(t *testing.T, path string) map[string][]string {
	t.Helper()
	db, err := sql.Open("duckdb", path+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string][]string{}
	for _, tg := range lake.AllTargets() {
		out[tg.FullName()] = decimals(t, db, tg.Namespace, tg.Name)
	}
	return out
}

// union merges hosts' totals (their accounts are disjoint).
func union(all ...map[string]totals) map[string]totals {
	out := map[string]totals{}
	for _, m := range all {
		for tbl, byAccount := range m {
			if out[tbl] == nil {
				out[tbl] = totals{}
			}
			for a, s := range byAccount {
				out[tbl][a] = s
			}
		}
	}
	return out
}

// sameTotals reports every table and account whose totals differ.
func sameTotals(t *testing.T, want, got map[string]totals) {
	t.Helper()
	var names []string
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	checked := 0
	for _, n := range names {
		w, g := want[n], got[n]
		if len(w) != len(g) {
			t.Errorf("%s: accounts %v in the warehouses, %v in the lake", n, keys(w), keys(g))
			continue
		}
		for a, ws := range w {
			if g[a] != ws {
				t.Errorf("%s, account %s: warehouse %s; lake %s", n, a, ws, g[a])
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no table had rows: nothing was compared")
	}
}

func keys(m totals) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// currentSnapshot reads a lake table's current snapshot with the
// independent reader: its catalog row, then its metadata.
func currentSnapshot(t *testing.T, catalog *sql.DB, ns, name string) icebergread.Snapshot {
	t.Helper()
	loc, err := icebergread.MetadataLocation(context.Background(), catalog, lake.CatalogName, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := icebergread.Reader{}.Current(loc)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}
