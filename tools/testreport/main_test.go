package main

import (
	"bytes"
	"strings"
	"testing"
)

// events are `go test -json` lines as two runs of the go command print
// them (make test splits cmd/export between two). a's TestMatrix has
// parallel subtests, whose time the go command leaves out of the
// parent's: 30 + 50 s, its inner subtests counted once (row-1's are not
// parallel, and its time holds theirs). b failed.
const events = `{"Action":"run","Package":"m/a","Test":"TestMatrix"}
{"Action":"pass","Package":"m/a","Test":"TestLong","Elapsed":60}
{"Action":"pass","Package":"m/a","Test":"TestMatrix/mgr/row-1/inner","Elapsed":20}
{"Action":"pass","Package":"m/a","Test":"TestMatrix/mgr/row-1/inner_2","Elapsed":10}
{"Action":"pass","Package":"m/a","Test":"TestMatrix/mgr/row-1","Elapsed":31}
{"Action":"pass","Package":"m/a","Test":"TestMatrix/mgr/row-10","Elapsed":50}
{"Action":"pass","Package":"m/a","Test":"TestMatrix","Elapsed":0}
{"Action":"pass","Package":"m/a","Test":"TestShort","Elapsed":1}
{"Action":"pass","Package":"m/a","Test":"TestShort/case","Elapsed":0.5}
{"Action":"pass","Package":"m/a","Elapsed":90}
{"Action":"output","Package":"m/b","Test":"TestBroken","Output":"    b_test.go:9: the reason\n"}
{"Action":"fail","Package":"m/b","Test":"TestBroken","Elapsed":2}
{"Action":"fail","Package":"m/b","Elapsed":3}
{"Action":"pass","Package":"m/a","Test":"TestSplitOff","Elapsed":40}
{"Action":"pass","Package":"m/a","Elapsed":45}
`

func TestTheReport(t *testing.T) {
	var out bytes.Buffer
	r := newReport(&out, "m/")
	if err := r.read(strings.NewReader(events)); err != nil {
		t.Fatal(err)
	}
	r.summary(5)
	got := out.String()
	if !r.failed {
		t.Error("a failed test did not fail the report")
	}
	tests := []struct{ name, want string }{
		{"a failed test's output is shown", "b_test.go:9: the reason"},
		{"parallel subtests count in their parent's time, inner ones once", "80.0s  a  TestMatrix\n"},
		{"a test's own time stays when its subtests' is less", "1.0s  a  TestShort\n"},
		{"the slowest come first, cut at n", "the 5 slowest tests\n     80.0s  a  TestMatrix\n     60.0s  a  TestLong\n     40.0s  a  TestSplitOff\n      2.0s  b  TestBroken  FAIL\n      1.0s  a  TestShort\n"},
		{"a package tested in two runs is one line, summed", "    135.0s  a\n"},
		{"a failed package is marked", "      3.0s  b  FAIL\n"},
		{"the total counts each package once", "    138.0s  (sum of 2 packages"},
	}
	for _, tt := range tests {
		if !strings.Contains(got, tt.want) {
			t.Errorf("%s: no %q in\n%s", tt.name, tt.want, got)
		}
	}
}
