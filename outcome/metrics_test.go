package outcome

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTheAlertingMetricsAreAlwaysPresent: an account that never succeeded
// has a last-success time (0, so that an alert on its age fires), and an
// account with nothing queued has a backlog (0, so that a sum over it is
// not empty). The file is read back with Prometheus' own text parser.
func TestTheAlertingMetricsAreAlwaysPresent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "export.prom")
	now := time.Date(2026, 12, 5, 2, 10, 0, 0, time.UTC)
	s := Summary{Command: "run", Status: "failed", ExitCode: 1, Started: now, Finished: now.Add(time.Minute), Accounts: []Account{
		{Account: "north", Source: "mgr", Status: "failed"},
		{Account: "metro", Source: "repairops", Status: "ok", DetailsDue: map[string]int64{"tickets": 12}},
	}}
	if err := WriteMetrics(path, s); err != nil {
		t.Fatal(err)
	}
	fams, err := ParseMetrics(path)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{} // "metric account resource" → value
	for _, name := range []string{MetricSuccess, MetricBacklog} {
		for _, m := range fams[name].GetMetric() {
			key := name
			for _, l := range m.GetLabel() {
				if l.GetName() == "account" || l.GetName() == "resource" {
					key += " " + l.GetName() + "=" + l.GetValue()
				}
			}
			values[key] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		MetricSuccess + " account=north":                  0,
		MetricSuccess + " account=metro":                  float64(now.Add(time.Minute).Unix()),
		MetricBacklog + " account=north resource=":        0,
		MetricBacklog + " account=metro resource=tickets": 12,
	}
	for k, v := range want {
		got, ok := values[k]
		if !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v; the file holds %v", k, got, ok, v, keys(values))
		}
	}
}

func keys(m map[string]float64) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return strings.Join(out, "; ")
}
