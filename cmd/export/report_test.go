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
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/queries"
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

// readFigures reads every figure: its marks' values from the wide
// variant (the data, drawn or not) and how many marks of the variant on
// screen have area.
const readFigures = `Array.from(document.querySelectorAll('figure.chart')).map(f => {
  const shown = Array.from(f.querySelectorAll('svg')).filter(s => s.getClientRects().length > 0);
  return {
    Section: f.dataset.section, Query: f.dataset.query, Scope: f.dataset.scope, Hidden: f.hidden,
    Marks: Array.from(f.querySelectorAll('svg.wide .mark')).map(m => m.getAttribute('data-value')),
    Drawn: shown.flatMap(s => Array.from(s.querySelectorAll('.mark'))).filter(m => { const r = m.getBoundingClientRect(); return r.width > 0 && r.height > 0; }).length,
    Columns: Array.from(f.querySelectorAll('thead th')).map(th => th.textContent),
    Rows: Array.from(f.querySelectorAll('tbody tr')).map(tr => Array.from(tr.children).map(td => td.textContent)),
  };
})`

// readProblems lists what a reader of the shown charts would stumble on:
// a panel without exactly one chart on screen, text under 10 px, text
// boxes that overlap or leave the chart, a legend key whose colour is not
// among its chart's marks (or is not the colour it is drawn in).
const readProblems = `(() => {
  const problems = [];
  for (const f of Array.from(document.querySelectorAll('figure.chart')).filter(f => !f.hidden)) {
    for (const p of f.querySelectorAll('.panel')) {
      const svgs = Array.from(p.querySelectorAll('svg')).filter(s => s.getClientRects().length > 0);
      if (svgs.length !== 1) { problems.push(f.dataset.section + ': ' + svgs.length + ' charts on screen in one panel'); continue; }
      const s = svgs[0], name = s.getAttribute('aria-label') + ' [' + s.getAttribute('class') + ']';
      const scale = s.getScreenCTM().a, sb = s.getBoundingClientRect();
      const boxes = [];
      for (const t of s.querySelectorAll('text')) {
        const label = Array.from(t.childNodes).filter(n => n.nodeName !== 'title').map(n => n.textContent).join(' ');
        const px = parseFloat(getComputedStyle(t).fontSize) * scale;
        if (px < 10) problems.push(name + ': "' + label + '" renders at ' + px.toFixed(1) + ' px');
        const r = t.getBoundingClientRect();
        if (r.left < sb.left - 1 || r.right > sb.right + 1 || r.top < sb.top - 1 || r.bottom > sb.bottom + 1) problems.push(name + ': "' + label + '" is cut off by the chart\'s edge');
        boxes.push([label, r]);
      }
      for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i][1], b = boxes[j][1];
        if (Math.min(a.right, b.right) - Math.max(a.left, b.left) > 0.5 && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 0.5)
          problems.push(name + ': "' + boxes[i][0] + '" overlaps "' + boxes[j][0] + '"');
      }
      const colours = new Set();
      s.querySelectorAll('.mark').forEach(m => colours.add(m.getAttribute('fill')));
      s.querySelectorAll('.line').forEach(m => colours.add(m.getAttribute('stroke')));
      const keys = s.querySelectorAll('.key');
      if (keys.length === 0) problems.push(name + ': no legend');
      keys.forEach(k => {
        const drawn = k.getAttribute('fill') || k.getAttribute('stroke');
        if (drawn !== k.dataset.colour || !colours.has(drawn)) problems.push(name + ': legend colour ' + drawn + ' is not among the marks ' + Array.from(colours).join(' '));
      });
    }
  }
  return problems;
})()`

// readKeys lists every legend entry on screen: its name (a line chart's
// " median" and " p90" taken off) and colour.
const readKeys = `Array.from(document.querySelectorAll('svg')).filter(s => s.getClientRects().length > 0).flatMap(s =>
  Array.from(s.querySelectorAll('.key')).map(k => [k.nextElementSibling.textContent.replace(/ (median|p90)$/, ''), k.dataset.colour]))`

// layout is how the page sits in the window.
type layout struct {
	Scroll, Inner, Columns int
	Used                   float64 // the share of the window's width the cards span
}

const readLayout = `(() => {
  const secs = Array.from(document.querySelectorAll('main > section')).map(s => s.getBoundingClientRect());
  const left = Math.min(...secs.map(r => r.left)), right = Math.max(...secs.map(r => r.right));
  return {Scroll: document.documentElement.scrollWidth, Inner: document.documentElement.clientWidth,
    Columns: new Set(secs.map(r => Math.round(r.left))).size, Used: (right - left) / document.documentElement.clientWidth};
})()`

// tile is a headline tile on screen.
type tile struct {
	Metric, Currency, Current, Previous, Change, Pct, Text string
}

const readTiles = `Array.from(document.querySelectorAll('.tiles .scoped')).filter(s => !s.hidden).flatMap(s => Array.from(s.querySelectorAll('.tile'))).map(t => ({
  Metric: t.dataset.metric, Currency: t.dataset.currency, Current: t.dataset.current, Previous: t.dataset.previous,
  Change: t.dataset.change, Pct: t.dataset.changePct, Text: t.innerText}))`

// The report, rendered in headless Chromium from an export of both
// simulators (shops in USD and EUR): every chart draws its marks, for all
// shops and for each shop picked in the page; each chart's table holds
// the KPI query's own rows (repairshop-export query NAME), and its marks
// are the table's numbers. At 1,400 px and at 390 px (a phone): nothing
// overflows the window, the cards use the width (two columns, one on the
// phone), chart text is 10 px or more and never overlaps, legends match
// their marks, and the headline tiles are the headline query's rows.
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
	// As of the day the simulators' history ends, so that the headline
	// tiles compare two months that hold data.
	asOf := repairopstest.DataEnd().Format("2006-01-02")
	html := filepath.Join(dir, "report.html")
	code, out, stderr := runCLI(t, "report", "--config", cfg, "--out", html, "--to", asOf)
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
	for _, stale := range []string{"(none)", "(1 rows)", "reports no payments"} {
		if strings.Contains(string(body), stale) {
			t.Errorf("the report says %q", stale)
		}
	}

	// The same report from the published Parquet files (what it reads
	// while a run holds the warehouse): the same charts and numbers.
	fromParquet := filepath.Join(dir, "report-parquet.html")
	if code, _, stderr := runCLI(t, "report", "--config", cfg, "--out", fromParquet, "--from-parquet", "--to", asOf); code != exitOK || !strings.Contains(stderr, "Parquet files") {
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

	ctx := startChromium(t, browser)
	open := func(width, height int64) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height), chromedp.Navigate("file://"+html), chromedp.WaitVisible("#scope")); err != nil {
			t.Fatalf("chromium at %d px: %v", width, err)
		}
	}
	pick := func(shop string) {
		t.Helper()
		js := fmt.Sprintf(`(() => { const s = document.getElementById('scope'); s.value = %q; s.dispatchEvent(new Event('change')); return s.value; })()`, shop)
		if got, err := chromedp.Run(ctx, chromedp.Evaluate[string](js)); err != nil || got != shop {
			t.Fatalf("picking %q: %q %v", shop, got, err)
		}
	}
	headline := queryRows(t, cfg, "headline", asOf, []string{"account", "metric", "currency", "current", "previous", "change", "change_pct"})
	// readable checks what a reader sees at this width, for this scope.
	readable := func(width int, scope string, columns int) {
		t.Helper()
		l, err := chromedp.Run(ctx, chromedp.Evaluate[layout](readLayout))
		if err != nil {
			t.Fatal(err)
		}
		if l.Scroll > l.Inner {
			t.Errorf("at %d px (%s) the page is %d px wide: it overflows the window", width, ScopeLabel(scope), l.Scroll)
		}
		if l.Columns != columns || l.Used < 0.9 {
			t.Errorf("at %d px the cards sit in %d column(s) spanning %.0f %% of the width, want %d spanning ≥ 90 %%", width, l.Columns, 100*l.Used, columns)
		}
		problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](readProblems))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems[:min(len(problems), 15)] {
			t.Errorf("at %d px, %s: %s", width, ScopeLabel(scope), p)
		}
		tiles, err := chromedp.Run(ctx, chromedp.Evaluate[[]tile](readTiles))
		if err != nil {
			t.Fatal(err)
		}
		var want, got [][]string
		for _, r := range headline {
			if r[0] == scope {
				want = append(want, r[1:])
			}
		}
		for _, tl := range tiles {
			got = append(got, []string{tl.Metric, tl.Currency, tl.Current, tl.Previous, tl.Change, tl.Pct})
			shown := thousands(tl.Current) // money: exact, with separators
			switch tl.Metric {
			case "open_backlog":
				shown = strings.TrimSuffix(shown, ".00")
			case "median_turnaround_days":
				v, _ := strconv.ParseFloat(tl.Current, 64)
				shown = strconv.FormatFloat(v, 'f', 1, 64) + " days"
			}
			if !strings.Contains(tl.Text, shown) && tl.Current != "" {
				t.Errorf("%s tile %s shows %q, not its figure %s", ScopeLabel(scope), tl.Metric, tl.Text, shown)
			}
		}
		keys, err := chromedp.Run(ctx, chromedp.Evaluate[[][2]string](readKeys))
		if err != nil {
			t.Fatal(err)
		}
		colours := map[string]string{}
		for _, k := range keys {
			if c, ok := colours[k[0]]; ok && c != k[1] {
				t.Errorf("at %d px, %s: %s is %s in one chart and %s in another", width, ScopeLabel(scope), k[0], c, k[1])
			}
			colours[k[0]] = k[1]
		}
		if len(want) == 0 || !slices.EqualFunc(got, want, slices.Equal[[]string]) {
			t.Errorf("at %d px, %s: the tiles are not the headline query's rows:\n got %v\nwant %v", width, ScopeLabel(scope), got, want)
		}
	}

	open(1400, 1000)
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
		want := queryRows(t, cfg, f.Query, asOf, f.Columns)
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
	readable(1400, "", 2)
	screenshot(t, ctx, "report-1400.png", 1400, 1500)

	// Picking a shop shows its charts and tiles, drawn, and hides the
	// others.
	for _, shop := range []string{mgrSrv.Shops[1].Name, roSrv.Orgs[0].Name} {
		pick(shop)
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
		readable(1400, shop, 2)
	}

	// A phone: one column, the narrow charts.
	open(390, 844)
	readable(390, "", 1)
	screenshot(t, ctx, "report-390.png", 390, 1800)
	pick(mgrSrv.Shops[1].Name)
	readable(390, mgrSrv.Shops[1].Name, 1)
}

// ScopeLabel names a scope in messages.
func ScopeLabel(s string) string {
	if s == "" {
		return "all shops"
	}
	return s
}

// thousands is how a tile writes a decimal: 31592.45 → 31,592.45.
func thousands(v string) string {
	whole, frac, ok := strings.Cut(strings.TrimPrefix(v, "-"), ".")
	var b strings.Builder
	for i := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(whole[i])
	}
	if ok {
		b.WriteString("." + frac)
	}
	return b.String()
}

// screenshot saves the top of the page, width × height, to
// EXPORT_REPORT_SCREENSHOTS/name when that is set (make screenshots: the
// pictures in docs/).
func screenshot(t *testing.T, ctx context.Context, name string, width, height int64) {
	t.Helper()
	dir := os.Getenv("EXPORT_REPORT_SCREENSHOTS")
	if dir == "" {
		return
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height)); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// queryRows runs a shipped query through the CLI, as of the day to when
// the query takes --to, and keeps the columns.
func queryRows(t *testing.T, cfg, name, to string, cols []string) [][]string {
	t.Helper()
	args := []string{"query", name, "--config", cfg, "--format", "csv"}
	if q, err := sources.Query(name); err == nil && slices.Contains(q.Params, queries.ParamTo) {
		args = append(args, "--to", to)
	}
	code, out, stderr := runCLI(t, args...)
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

// startChromium starts a headless Chromium for the test, and ends it with
// the test. Now and then Chromium exits as it starts, before it prints
// its DevTools address ("chrome failed to start"); that is the browser's
// start on a busy machine, not what a test checks, so it is tried three
// times.
func startChromium(t *testing.T, browser string) context.Context {
	t.Helper()
	for attempt := 1; ; attempt++ {
		opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
			chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU,
			chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-dev-shm-usage", true),
			chromedp.Flag("hide-scrollbars", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000))
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancel := chromedp.NewContext(actx)
		err := chromedp.Do(ctx) // starts it
		if err == nil {
			t.Cleanup(cancelAlloc)
			t.Cleanup(cancel) // cleanups run last-in first: the tab, then the browser
			return ctx
		}
		cancel()
		cancelAlloc()
		if attempt == 3 || !strings.Contains(err.Error(), "failed to start") {
			t.Fatalf("chromium did not start: %v", err)
		}
		t.Logf("chromium did not start (attempt %d of 3), once more: %v", attempt, err)
	}
}
