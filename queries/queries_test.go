package queries

import (
	"slices"
	"strings"
	"testing"
)

// Every shipped query says what it answers, names only known parameters,
// and reads each parameter it names (and none it does not).
func TestQueriesDeclareTheirParameters(t *testing.T) {
	uses := map[string]string{ParamFrom: "getvariable('from')", ParamTo: "getvariable('to')", ParamAccount: "getvariable('accounts')"}
	all := All()
	if len(all) < 12 {
		t.Fatalf("%d queries shipped", len(all))
	}
	for _, q := range all {
		if len(q.Description) < 40 {
			t.Errorf("%s: description %q is too short to say what it answers", q.Name, q.Description)
		}
		for p, use := range uses {
			if declared, used := slices.Contains(q.Params, p), strings.Contains(q.SQL, use); declared != used {
				t.Errorf("%s: parameter %s declared %v, used %v", q.Name, p, declared, used)
			}
		}
		for _, p := range q.Params {
			if _, ok := uses[p]; !ok {
				t.Errorf("%s: unknown parameter %q", q.Name, p)
			}
		}
	}
	if _, err := Get("nope"); err == nil {
		t.Error("an unknown query was found")
	}
}
