package schema

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

var snake = regexp.MustCompile(`^_?[a-z][a-z0-9_]*$`)

func TestDeclarations(t *testing.T) {
	seen := map[string]bool{}
	for _, tb := range All {
		if seen[tb.FullName()] {
			t.Errorf("%s declared twice", tb.FullName())
		}
		seen[tb.FullName()] = true
		if Lookup(tb.FullName()) != tb {
			t.Errorf("Lookup(%s) does not find it", tb.FullName())
		}
		if tb.Key[0] != ColAccount {
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
		for _, sys := range []string{ColAccount, ColExtractedAt, ColRunID, ColExtra} {
			if tb.ColumnIndex(sys) < 0 {
				t.Errorf("%s: no %s column", tb.FullName(), sys)
			}
		}
	}
}

func TestMalformedDeclarationPanics(t *testing.T) {
	for name, tb := range map[string]Table{
		"unknown key":           {Source: "s", Name: "t", Key: []string{"nope"}, Columns: []Column{Col(String, "id")}},
		"duplicate column":      {Source: "s", Name: "t", Key: []string{"id"}, Columns: []Column{Col(String, "id"), Col(Int, "id")}},
		"partition not a date":  {Source: "s", Name: "t", Key: []string{"id"}, Columns: []Column{Col(String, "id")}, PartitionBy: "id"},
		"clash with system col": {Source: "s", Name: "t", Key: []string{"id"}, Columns: []Column{Col(String, "id"), Col(String, "run_id")}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: New did not panic", name)
				}
			}()
			New(tb)
		}()
	}
}

// TestDependenciesPointOneWay enforces DESIGN.md §1: cmd/export → load →
// transform → schema, cmd/export → extract; extract never touches Arrow or
// DuckDB; transform does no I/O-bound imports of ours.
func TestDependenciesPointOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-tags", "duckdb_arrow", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "github.com/repairshop/export/...").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	const mod = "github.com/repairshop/export/"
	forbidden := map[string][]string{
		"extract":   {mod + "load", mod + "transform", mod + "schema", "github.com/duckdb/", "github.com/apache/arrow-go/"},
		"transform": {mod + "load", mod + "extract", "github.com/duckdb/", "net/http", "os"},
		"schema":    {mod},
		"load":      {mod + "extract"},
		"queries":   {mod},
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], mod)
		top := strings.SplitN(pkg, "/", 2)[0]
		for _, imp := range fields[1:] {
			for _, bad := range forbidden[top] {
				if imp == bad || strings.HasPrefix(imp, bad+"/") || (strings.HasSuffix(bad, "/") && strings.HasPrefix(imp, bad)) {
					t.Errorf("%s imports %s", pkg, imp)
				}
			}
		}
	}
}

func TestNestedTables(t *testing.T) {
	inv := MGRTicketInvoices
	if len(inv.Children) != 2 {
		t.Fatalf("children = %d", len(inv.Children))
	}
	lines := inv.Children[0]
	if lines.FullName() != "mgr.ticket_invoice_lines" || lines.Parent != inv || !lines.IsChild() || inv.IsChild() {
		t.Fatalf("child %s: parent %v", lines.FullName(), lines.Parent)
	}
	if strings.Join(lines.Key, ",") != "account,ticket_invoice_id,line_no" {
		t.Errorf("child key = %v", lines.Key)
	}
	if lines.PartitionBy != "created_date" {
		t.Errorf("child partition = %q, want the parent's created_date", lines.PartitionBy)
	}
	c := lines.Columns[lines.ColumnIndex("created_date")]
	if c.Parent != "created_date" || c.Type != Timestamp || !c.System {
		t.Errorf("inherited partition column = %+v", c)
	}
	if c := lines.Columns[lines.ColumnIndex("ticket_invoice_id")]; c.Parent != "id" || !c.Required || c.Nullable {
		t.Errorf("parent key column = %+v", c)
	}
	if c := lines.Columns[lines.ColumnIndex("price")]; c.Type != Money || !c.Nullable {
		t.Errorf("price = %+v", c)
	}
	if Lookup("mgr.ticket_invoice_payments") != inv.Children[1] {
		t.Error("Lookup does not find a child table")
	}
	for name, parent := range map[string]Table{
		"no array path":  {Source: "s", Name: "p", Key: []string{"id"}, Columns: []Column{Col(String, "id")}, Children: []*Table{Nested("c", "p_id", nil, "")}},
		"composite key":  {Source: "s", Name: "p", Key: []string{"id", "n"}, Columns: []Column{Col(String, "id"), Col(Int, "n")}, Children: []*Table{Nested("c", "p_id", []string{"xs"}, "")}},
		"two levels":     {Source: "s", Name: "p", Key: []string{"id"}, Columns: []Column{Col(String, "id")}, Children: []*Table{{Name: "c", ParentKey: "p_id", ArrayPaths: []string{"xs"}, Children: []*Table{Nested("g", "c_id", []string{"ys"}, "")}}}},
		"child declared": {Source: "s", Name: "c", ParentKey: "p_id", Key: []string{"id"}, Columns: []Column{Col(String, "id")}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: New did not panic", name)
				}
			}()
			New(parent)
		}()
	}
}
