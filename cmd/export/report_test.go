package export

import (
	"context"
	"encoding/csv"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/repairshop/export/extract/mgr/mgrtest"
	"github.com/repairshop/export/extract/repairops/repairopstest"
)

// chromium finds the browser the report test drives (.ci/run installs
// Debian's chromium when it is missing).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium on this machine: .ci/run installs Debian's chromium package; locally: apt-get install chromium")
	return ""
}

// figure is a chart as the browser rendered it.
type figure struct {
	Section, Query, Scope string
	Hidden                bool
	// Marks are the drawn marks' values; Drawn counts those with a
	// rendered box of some area.
	Marks   []string
	Drawn   int
	Columns []string
	Rows    [][]string
}

// chartColumns are, per section, the table columns its marks draw.
var chartColumns = map[string][]string{
	"revenue": {"revenue"}, "turnaround": {"median_days", "p90_days"}, "backlog": {"tickets"}, "top-repairs": {"tickets"},
	"receivables": {"due"}, "low-stock": {"on_hand", "reorder_level"}, "technicians": {"revenue"},
}

const readFigures = `Array.from(document.querySelectorAll('figure.chart')).map(f => {
  const marks = Array.from(f.querySelectorAll('.mark'));
  return {
    Section: f.dataset.section, Query: f.dataset.query, Scope: f.dataset.scope, Hidden: f.hidden,
    Marks: marks.map(m => m.getAttribute('data-value')),
    Drawn: marks.filter(m => { const r = m.getBoundingClientRect(); return r.width > 0 && r.height > 0; }).length,
    Columns: Array.from(f.querySelectorAll('thead th')).map(th => th.textContent),
    Rows: Array.from(f.querySelectorAll('tbody tr')).map(tr => Array.from(tr.children).map(td => td.textContent)),
  };
})`

// The report, rendered in headless Chromium from an export of both
// simulators: every chart draws its marks, for all shops and for each shop
// picked in the page; each chart's table holds the KPI query's own rows
// (repairshop-export query NAME), and its marks are the table's numbers.
func TestReportDrawsTheKPIQueriesInABrowser(t *testing.T) {
	t.Parallel()
	browser := chromium(t)
	mgrSrv := mgrtest.NewServer(mgrtest.WithRateLimit(6000, time.Minute), mgrtest.WithTickets(150, 120))
	defer mgrSrv.Close()
	roSrv := repairopstest.NewServer(repairopstest.WithQuota(1_000_000, time.Hour), repairopstest.WithTickets(120))
	defer roSrv.Close()
	dir := t.TempDir()
	text, _ := bothSources(t, mgrSrv, roSrv, ", timezone: America/Chicago")
	cfg := writeConfig(t, dir, text)
	if code, out, stderr := runCLI(t, "run", "--config", cfg); code != exitOK {
		t.Fatalf("run: exit %d\n%s%s", code, out, stderr)
	}
	html := filepath.Join(dir, "report.html")
	code, out, stderr := runCLI(t, "report", "--config", cfg, "--out", html)
	if code != exitOK || !strings.Contains(out, html) {
		t.Fatalf("report: exit %d\n%s%s", code, out, stderr)
	}
	body, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	for _, remote := range []string{"http://", "https://", "src=\"//"} {
		if i := strings.Index(string(body), remote); i >= 0 && !strings.Contains(string(body[i:min(i+40, len(body))]), "www.w3.org/2000/svg") {
			t.Errorf("the report refers to %s…: it must open offline", body[i:min(i+60, len(body))])
		}
	}

	// The same report from the published Parquet files (what it reads
	// while a run holds the warehouse): the same charts and numbers.
	fromParquet := filepath.Join(dir, "report-parquet.html")
	if code, _, stderr := runCLI(t, "report", "--config", cfg, "--out", fromParquet, "--from-parquet"); code != exitOK || !strings.Contains(stderr, "Parquet files") {
		t.Fatalf("report --from-parquet: exit %d %s", code, stderr)
	}
	pq, _ := os.ReadFile(fromParquet)
	mainOf := func(b []byte) string {
		s := string(b)
		return s[strings.Index(s, "<main>"):strings.Index(s, "</main>")]
	}
	if mainOf(pq) != mainOf(body) {
		t.Error("the report from the Parquet files differs from the warehouse's")
	}

	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1000, 1400))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+html), chromedp.WaitVisible("#scope")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	all, err := chromedp.Run(ctx, chromedp.Evaluate[[]figure](readFigures))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	if len(all) != 7*(1+len(mgrSrv.Shops)+len(roSrv.Orgs)) {
		t.Fatalf("%d figures, want 7 charts × (all shops + %d accounts)", len(all), len(mgrSrv.Shops)+len(roSrv.Orgs))
	}
	for _, f := range all {
		if f.Scope != "" {
			if !f.Hidden {
				t.Errorf("%s for %s shows before it is picked", f.Section, f.Scope)
			}
			continue
		}
		if f.Hidden || len(f.Marks) == 0 || f.Drawn != len(f.Marks) {
			t.Errorf("%s (all shops): %d marks, %d drawn, hidden %v", f.Section, len(f.Marks), f.Drawn, f.Hidden)
		}
		want := queryRows(t, cfg, f.Query, f.Columns)
		got := f.Rows
		switch f.Section {
		case "top-repairs", "low-stock": // the first rows, in the query's order
			want = want[:min(len(want), len(got))]
		case "technicians": // added up over the months
			want = technicianTotals(want, f.Columns)[:len(got)]
		default: // the same rows, drawn oldest month first
			sortRows(want)
			sortRows(got)
		}
		if !slices.EqualFunc(got, want, slices.Equal[[]string]) || len(got) == 0 {
			t.Errorf("%s: the table is not the query's rows:\n got %v\nwant %v", f.Section, got, want)
		}
		var fromTable []float64
		for _, c := range chartColumns[f.Section] {
			i := slices.Index(f.Columns, c)
			for _, r := range f.Rows {
				if v, err := strconv.ParseFloat(r[i], 64); err == nil {
					fromTable = append(fromTable, v)
				}
			}
		}
		var marks []float64
		for _, m := range f.Marks {
			v, _ := strconv.ParseFloat(m, 64)
			marks = append(marks, v)
		}
		sort.Float64s(fromTable)
		sort.Float64s(marks)
		if !slices.Equal(marks, fromTable) {
			t.Errorf("%s: marks %v, table %v", f.Section, marks, fromTable)
		}
	}

	// Picking a shop shows its charts, drawn, and hides the others.
	for _, shop := range []string{mgrSrv.Shops[0].Name, roSrv.Orgs[0].Name} {
		pick := fmt.Sprintf(`(() => { const s = document.getElementById('scope'); s.value = %q; s.dispatchEvent(new Event('change')); return s.value; })()`, shop)
		if got, err := chromedp.Run(ctx, chromedp.Evaluate[string](pick)); err != nil || got != shop {
			t.Fatalf("picking %s: %q %v", shop, got, err)
		}
		figs, err := chromedp.Run(ctx, chromedp.Evaluate[[]figure](readFigures))
		if err != nil {
			t.Fatal(err)
		}
		shown := 0
		for _, f := range figs {
			if f.Hidden != (f.Scope != shop) {
				t.Errorf("picked %s: %s for %q hidden=%v", shop, f.Section, f.Scope, f.Hidden)
			}
			if f.Scope == shop {
				shown++
				if f.Drawn != len(f.Marks) {
					t.Errorf("%s %s: %d of %d marks drawn", shop, f.Section, f.Drawn, len(f.Marks))
				}
				for _, r := range f.Rows {
					if i := slices.Index(f.Columns, "account"); i >= 0 && r[i] != shop {
						t.Errorf("%s %s: a row of %s", shop, f.Section, r[i])
					}
				}
			}
		}
		if shown != 7 {
			t.Errorf("picked %s: %d charts shown", shop, shown)
		}
	}
}

// queryRows runs a shipped query through the CLI and keeps the columns.
func queryRows(t *testing.T, cfg, name string, cols []string) [][]string {
	t.Helper()
	code, out, stderr := runCLI(t, "query", name, "--config", cfg, "--format", "csv")
	if code != exitOK {
		t.Fatalf("query %s: exit %d %s", name, code, stderr)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]int, len(cols))
	for i, c := range cols {
		if idx[i] = slices.Index(recs[0], c); idx[i] < 0 && c != "shop" {
			t.Fatalf("query %s has no column %s", name, c)
		}
	}
	var rows [][]string
	for _, r := range recs[1:] {
		row := make([]string, len(cols))
		for i, j := range idx {
			if j >= 0 {
				row[i] = r[j]
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// technicianTotals adds up revenue_by_technician's months per technician,
// most revenue first.
func technicianTotals(rows [][]string, cols []string) [][]string {
	inv, rev := slices.Index(cols, "invoices"), slices.Index(cols, "revenue")
	type total struct {
		row      []string
		inv, rev *big.Rat
	}
	var order []string
	sums := map[string]*total{}
	for _, r := range rows {
		key := strings.Join([]string{r[0], r[1], r[2], r[3]}, "|")
		s := sums[key]
		if s == nil {
			s = &total{row: slices.Clone(r), inv: new(big.Rat), rev: new(big.Rat)}
			sums[key] = s
			order = append(order, key)
		}
		v, _ := new(big.Rat).SetString(r[inv])
		s.inv.Add(s.inv, v)
		v, _ = new(big.Rat).SetString(r[rev])
		s.rev.Add(s.rev, v)
	}
	sort.SliceStable(order, func(i, j int) bool {
		if c := sums[order[i]].rev.Cmp(sums[order[j]].rev); c != 0 {
			return c > 0
		}
		return sums[order[i]].row[3] < sums[order[j]].row[3]
	})
	var out [][]string
	for _, k := range order {
		s := sums[k]
		s.row[inv], s.row[rev] = s.inv.FloatString(0), s.rev.FloatString(2)
		out = append(out, s.row)
	}
	return out
}

func sortRows(rows [][]string) {
	slices.SortFunc(rows, func(a, b []string) int { return strings.Compare(strings.Join(a, "\x00"), strings.Join(b, "\x00")) })
}
