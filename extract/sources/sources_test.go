package sources

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/schema"
)

var snake = regexp.MustCompile(`^_?[a-z][a-z0-9_]*$`)

// Every declared table of every source follows the naming contract.
func TestDeclarations(t *testing.T) {
	seen := map[string]bool{}
	for _, tb := range Tables() {
		if seen[tb.FullName()] {
			t.Errorf("%s declared twice", tb.FullName())
		}
		seen[tb.FullName()] = true
		if Table(tb.FullName()) != tb {
			t.Errorf("Lookup(%s) does not find it", tb.FullName())
		}
		if tb.Key[0] != schema.ColAccount {
			t.Errorf("%s: key %v does not start with account", tb.FullName(), tb.Key)
		}
		for _, c := range tb.Columns {
			if !snake.MatchString(c.Name) {
				t.Errorf("%s.%s: not snake_case", tb.FullName(), c.Name)
			}
			if tb.IsKey(c.Name) && !c.Required {
				t.Errorf("%s.%s: key column not required", tb.FullName(), c.Name)
			}
			if !c.System && c.Name != strings.ReplaceAll(c.Paths[0], ".", "_") {
				t.Errorf("%s.%s: name is not its documented path flattened with _ (%s)", tb.FullName(), c.Name, c.Paths[0])
			}
		}
		for _, sys := range []string{schema.ColAccount, schema.ColExtractedAt, schema.ColRunID, schema.ColExtra} {
			if tb.ColumnIndex(sys) < 0 {
				t.Errorf("%s: no %s column", tb.FullName(), sys)
			}
		}
	}
}

// Every resource of every source loads one of its own top-level tables,
// and every top-level table is loaded by a resource.
func TestResourcesHaveTheirTables(t *testing.T) {
	for _, s := range All {
		loaded := map[*schema.Table]bool{}
		for _, r := range s.Resources {
			if r.Table == nil || r.Table.IsChild() || r.Table.Source != s.Name {
				t.Errorf("%s %s: table %v", s.Name, r.Name, r.Table)
				continue
			}
			loaded[r.Table] = true
		}
		for _, tb := range s.Tables {
			if s.Webhooks != nil && slices.Contains(s.Webhooks.Resources, tb.Resource) {
				loaded[tb] = true // loaded from webhook events
			}
			if !tb.IsChild() && !loaded[tb] {
				t.Errorf("%s: no resource or webhook loads %s", s.Name, tb.FullName())
			}
		}
	}
}

// Every registered source has every required part (extract.Validate): a
// source that lacks one fails here, not mid-run in the driver.
func TestEverySourceIsComplete(t *testing.T) {
	for _, s := range All {
		if err := extract.Validate(s); err != nil {
			t.Error(err)
		}
	}
	if _, err := Fragments(); err != nil {
		t.Error(err)
	}
}

// Which parts of the conformed model each source fills (the rest get no
// rows from it): RepairOps' API has no purchase orders, and only
// RepairOps gives a status timeline of its own.
func TestEachSourceFillsItsPartsOfTheModel(t *testing.T) {
	want := map[string][]string{
		"mgr": {"customers", "inventory", "invoice_lines", "invoices", "kpi_daily", "payments", "purchase_order_lines", "purchase_orders",
			"status_changes", "ticket_versions", "tickets"},
		"repairops": {"customers", "inventory", "invoice_lines", "invoices", "kpi_daily", "payments", "status_changes", "ticket_timeline",
			"ticket_versions", "tickets"},
	}
	fragments, err := Fragments()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, f := range fragments {
		got[f.Source] = append(got[f.Source], f.Part)
	}
	for _, s := range All {
		slices.Sort(got[s.Name])
		if !slices.Equal(got[s.Name], want[s.Name]) {
			t.Errorf("%s fills %v, want %v", s.Name, got[s.Name], want[s.Name])
		}
	}
}

// A source's own queries come from its folder, marked with the source,
// beside those over the conformed model; no two share a name.
func TestSourceQueriesAreListedWithTheirSource(t *testing.T) {
	seen := map[string]bool{}
	bySource := map[string]int{}
	for _, q := range Queries() {
		if seen[q.Name] {
			t.Errorf("two queries are named %s", q.Name)
		}
		seen[q.Name] = true
		bySource[q.Source]++
	}
	for _, s := range append([]*extract.Source{{}}, All...) {
		if bySource[s.Name] == 0 {
			t.Errorf("no queries for %q", s.Name)
		}
	}
	if q, err := Query("invoice_checks"); err != nil || q.Source != "mgr" || !strings.Contains(q.SQL, "mgr.ticket_invoices") {
		t.Errorf("invoice_checks: %q %v", q.Source, err)
	}
	if q, err := Query("turnaround"); err != nil || q.Source != "" {
		t.Errorf("turnaround: %q %v", q.Source, err)
	}
}
