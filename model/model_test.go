package model

import (
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestEveryViewFileIsListedAndDocumented(t *testing.T) {
	names, err := fs.Glob(files, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, v := range Views(nil) {
		listed = append(listed, v.Name+".sql")
		if v.Doc == "" {
			t.Errorf("%s.sql has no header comment", v.Name)
		}
		if !strings.Contains(strings.ToLower(v.SQL), "select") {
			t.Errorf("%s.sql has no SELECT", v.Name)
		}
	}
	slices.Sort(listed)
	if !slices.Equal(names, listed) {
		t.Errorf("view files %v, listed %v", names, listed)
	}
}

func TestNormalLabelIgnoresCaseSpaceAndUnderscores(t *testing.T) {
	for in, want := range map[string]string{
		"READY_FOR_PICKUP":     "ready for pickup",
		"  Collected ":         "collected",
		"Reparación terminada": "reparación terminada",
		"IN_PROGRESS":          "in progress",
		"Wartet auf Teile":     "wartet auf teile",
	} {
		if got := NormalLabel(in); got != want {
			t.Errorf("NormalLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDefaultsPutNoLabelInTwoGroups(t *testing.T) {
	if err := CheckGroups(DefaultStatusGroups); err != nil {
		t.Fatal(err)
	}
	for g := range DefaultStatusGroups {
		if !slices.Contains(Groups, g) {
			t.Errorf("default group %q is not a group", g)
		}
	}
}

func TestDefaultsCoverBothAPIsCodes(t *testing.T) {
	group := map[string]string{}
	for _, r := range StatusRules(nil) {
		group[r.Label] = r.Group
	}
	// The RepairOps codes and MGR's documented example labels.
	for label, want := range map[string]string{
		"NEW": Open, "DIAGNOSING": Open, "IN_REPAIR": Open, "AWAITING_PARTS": Waiting,
		"READY_FOR_PICKUP": Waiting, "CLOSED": Done, "CANCELLED": Cancelled,
		"Collected": Done, "Entregado": Done, "Abgeholt": Done, "Annulé": Cancelled,
	} {
		if got := group[NormalLabel(label)]; got != want {
			t.Errorf("%s: group %q, want %q", label, got, want)
		}
	}
}

func TestAccountRulesComeAfterTheDefaults(t *testing.T) {
	rules := StatusRules(map[string]map[string][]string{
		"north": {Done: {"Sent to Apple", "sent_to_apple"}, Waiting: {"Collected"}},
		"east":  {Cancelled: {"Binned"}},
	})
	var defaults int
	for _, g := range DefaultStatusGroups {
		defaults += len(g)
	}
	if len(rules) != defaults+3 {
		t.Fatalf("%d rules, want %d defaults + 3 (a label written twice counts once)", len(rules), defaults)
	}
	for _, r := range rules[:defaults] {
		if r.Account != "*" {
			t.Fatalf("default rule %+v is not for every account", r)
		}
	}
	want := []StatusRule{{"east", "binned", Cancelled}, {"north", "collected", Waiting}, {"north", "sent to apple", Done}} // accounts by name, groups in workflow order
	if got := rules[defaults:]; !slices.Equal(got, want) {
		t.Errorf("account rules %+v, want %+v", got, want)
	}
}

func TestCheckGroupsRejects(t *testing.T) {
	for name, groups := range map[string]map[string][]string{
		"an unknown group":      {"finished": {"Collected"}},
		"a label in two groups": {Done: {"Collected"}, Waiting: {"collected "}},
		"an empty label":        {Done: {"  "}},
	} {
		if CheckGroups(groups) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestAViewReadsThePartsItNamesFromEverySourcesFragment(t *testing.T) {
	fragments := []Fragment{
		{Source: "a", Part: "inventory", SQL: "-- a's stock\nSELECT 'a' AS source, account, id FROM a.items"},
		{Source: "b", Part: "inventory", SQL: "-- b's stock\nWITH x AS (SELECT 1)\nSELECT 'b' AS source, account, id, sku FROM b.stock"},
		{Source: "b", Part: "customers", SQL: "SELECT 'b' AS source FROM b.people"},
	}
	sql, err := Compose("-- doc\nSELECT * FROM part_inventory", fragments)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"part_inventory AS (", "FROM a.items", "FROM b.stock", "UNION ALL BY NAME", `CAST("on_hand" AS DECIMAL(18,4)) AS "on_hand"`, `CAST(NULL AS VARCHAR) AS "sku"`} {
		if !strings.Contains(sql, want) {
			t.Errorf("the composed view has no %q:\n%s", want, sql)
		}
	}
	if strings.Contains(sql, "b.people") {
		t.Errorf("the composed view reads a part it does not name:\n%s", sql)
	}
	if _, err := Compose("SELECT * FROM part_gadgets", nil); err == nil || !strings.Contains(err.Error(), "part_gadgets: no such part") {
		t.Errorf("a view naming no declared part: %v", err)
	}
	if v := Views(fragments); !strings.HasSuffix(v[slices.IndexFunc(v, func(v View) bool { return v.Name == "inventory" })].Doc, "From a, b.") {
		t.Errorf("the inventory view's doc does not name the sources that fill it")
	}
}

func TestAFragmentForNoPartIsRefused(t *testing.T) {
	fsys := fstest.MapFS{"gadgets.sql": {Data: []byte("-- x\nSELECT 1")}}
	if _, err := ReadFragments("a", fsys); err == nil || !strings.Contains(err.Error(), "no part is named gadgets") {
		t.Errorf("a fragment for no part: %v", err)
	}
	fsys = fstest.MapFS{"tickets.sql": {Data: []byte("SELECT 1")}}
	if _, err := ReadFragments("a", fsys); err == nil || !strings.Contains(err.Error(), "no header comment") {
		t.Errorf("a fragment without a header: %v", err)
	}
}
