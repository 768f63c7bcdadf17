package present

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/repairshop/export/load"
)

// JSON output types its values: counts are numbers, flags booleans, NULL
// null; money (DECIMAL) stays an exact string; keys keep the columns'
// order.
func TestJSONResultsAreTyped(t *testing.T) {
	res := load.Result{
		Columns: []string{"shop", "tickets", "share", "paid", "late", "total"},
		Kinds:   []load.Kind{load.KindText, load.KindNumber, load.KindNumber, load.KindBool, load.KindNumber, load.KindDecimal},
		Rows:    [][]string{{"north", "42", "0.25", "true", "", "1234.50"}, {"south", "7", "NaN", "false", "3", "0.10"}},
	}
	var b bytes.Buffer
	if err := Result(&b, res, "json"); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	d := json.NewDecoder(&b)
	d.UseNumber()
	if err := d.Decode(&got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b.String())
	}
	want := []map[string]any{
		{"shop": "north", "tickets": json.Number("42"), "share": json.Number("0.25"), "paid": true, "late": nil, "total": "1234.50"},
		{"shop": "south", "tickets": json.Number("7"), "share": "NaN", "paid": false, "late": json.Number("3"), "total": "0.10"},
	}
	for i := range want {
		for k, v := range want[i] {
			if got[i][k] != v {
				t.Errorf("row %d %s = %#v, want %#v", i, k, got[i][k], v)
			}
		}
	}
	b.Reset()
	Result(&b, res, "json")
	if s := b.String(); strings.Index(s, `"shop"`) > strings.Index(s, `"tickets"`) {
		t.Errorf("keys out of the columns' order:\n%s", s)
	}
}

func TestATableCountsItsRowsInGoodEnglish(t *testing.T) {
	for n, want := range map[int]string{0: "(0 rows)", 1: "(1 row)", 2: "(2 rows)"} {
		res := load.Result{Columns: []string{"a"}}
		for range n {
			res.Rows = append(res.Rows, []string{"x"})
		}
		var b bytes.Buffer
		Result(&b, res, "table")
		if !strings.Contains(b.String(), want) {
			t.Errorf("%d rows: %q, want %q", n, b.String(), want)
		}
	}
}

func TestTheLastErrorLineIsShortAndKeepsTheCause(t *testing.T) {
	long := errors.New("publish Parquet mgr.tickets_history: write: IO Error: Could not write file \"/srv/export/" + strings.Repeat("deep/", 80) + "data_0.tmp\":\n  No space left on device")
	got := ErrorLine(long)
	if n := len([]rune(got)); n > ErrorMax || strings.Contains(got, "\n") {
		t.Errorf("%d characters or several lines: %q", n, got)
	}
	if !strings.HasPrefix(got, "publish Parquet mgr.tickets_history: write:") || !strings.HasSuffix(got, "No space left on device") || !strings.Contains(got, " … ") {
		t.Errorf("%q: want what was being done, then …, then the cause", got)
	}
	if short := errors.New("config: x"); ErrorLine(short) != "config: x" {
		t.Errorf("a short error changed: %q", ErrorLine(short))
	}
}
