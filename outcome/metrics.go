package outcome

import (
	"errors"
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/repairshop/export/load"
)

// Metric names: the contract with dashboards and alerts (docs/operations.md).
const (
	MetricStart       = "export_last_run_start_timestamp_seconds"
	MetricEnd         = "export_last_run_end_timestamp_seconds"
	MetricSuccess     = "export_last_success_timestamp_seconds"
	MetricDuration    = "export_last_run_duration_seconds"
	MetricOK          = "export_last_run_success"
	MetricPartial     = "export_last_run_partial"
	MetricRequests    = "export_last_run_requests"
	MetricRows        = "export_last_run_rows"
	MetricRejected    = "export_last_run_rejected_rows"
	MetricBacklog     = "export_detail_backlog"
	MetricRateSignals = "export_rate_signals_total"
	MetricExitCode    = "export_last_run_exit_code"
)

// WriteMetrics writes the run's metrics to path in the Prometheus text
// format, aside then renamed (a collector never reads half a file). The
// last success of an account that did not succeed this time is carried
// over from the file the previous run wrote, so that "no success in 26
// hours" can be alerted on.
func WriteMetrics(path string, s Summary) error {
	previous, err := lastSuccesses(path)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	acct := []string{"account", "source"}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		reg.MustRegister(g)
		return g
	}
	start := gauge(MetricStart, "When the last run of the account started (Unix seconds).", acct...)
	end := gauge(MetricEnd, "When the last run of the account ended (Unix seconds).", acct...)
	success := gauge(MetricSuccess, "When a run last ended ok for the account (Unix seconds); kept across failed runs.", acct...)
	took := gauge(MetricDuration, "How long the last run took (seconds).", "command")
	ok := gauge(MetricOK, "1 when the last run ended ok for the account, else 0.", acct...)
	partial := gauge(MetricPartial, "1 when the last run stopped early for the account (rate budget; the next run resumes), else 0.", acct...)
	requests := gauge(MetricRequests, "API requests the last run sent for the account.", acct...)
	rows := gauge(MetricRows, "Rows the last run changed per table: inserted, updated, unchanged, deleted.", "account", "source", "table", "change")
	rejected := gauge(MetricRejected, "Records the last run quarantined per table (meta.rejects).", "account", "source", "table")
	backlog := gauge(MetricBacklog, "Details queued for the next run, per resource.", "account", "source", "resource")
	exit := gauge(MetricExitCode, "The last run's exit code (0 ok, 1 failure, 2 usage, 3 partial, 4 rejects).", "command")
	signals := prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricRateSignals, Help: "Rate-limit signals ever recorded on the account's key (its ledger)."}, acct)
	reg.MustRegister(signals)

	took.WithLabelValues(s.Command).Set(s.Seconds)
	exit.WithLabelValues(s.Command).Set(float64(s.ExitCode))
	for _, a := range s.Accounts {
		l := prometheus.Labels{"account": a.Account, "source": a.Source}
		start.With(l).Set(unix(s.Started))
		end.With(l).Set(unix(s.Finished))
		good := a.Status == load.StatusOK
		ok.With(l).Set(b2f(good))
		partial.With(l).Set(b2f(a.Status == load.StatusPartial))
		requests.With(l).Set(float64(a.Requests))
		signals.With(l).Add(float64(a.RateSignals))
		if good {
			success.With(l).Set(unix(s.Finished))
		} else if at, seen := previous[[2]string{a.Account, a.Source}]; seen {
			success.With(l).Set(at)
		} else {
			// Never yet: 0, so that an alert on its age fires for an
			// account that has never succeeded, rather than seeing nothing.
			success.With(l).Set(0)
		}
		for _, t := range a.Tables {
			for change, n := range map[string]int64{"inserted": t.Inserted, "updated": t.Updated, "unchanged": t.Unchanged, "deleted": t.Deleted} {
				rows.WithLabelValues(a.Account, a.Source, t.Table, change).Set(float64(n))
			}
			rejected.WithLabelValues(a.Account, a.Source, t.Table).Set(float64(t.Rejected))
		}
		for res, n := range a.DetailsDue {
			backlog.WithLabelValues(a.Account, a.Source, res).Set(float64(n))
		}
		if len(a.DetailsDue) == 0 { // nothing queued: one series at 0, with no resource
			backlog.WithLabelValues(a.Account, a.Source, "").Set(0)
		}
	}
	if err := prometheus.WriteToTextfile(path, reg); err != nil {
		return fmt.Errorf("write metrics %s: %w", path, err)
	}
	return nil
}

// ParseMetrics reads a metrics file in the Prometheus text format.
func ParseMetrics(path string) (map[string]*dto.MetricFamily, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(f)
}

// lastSuccesses reads the last-success times of the file a previous run
// wrote (none when there is no file; a file that does not parse is
// replaced, its times lost, rather than blocking the metrics).
func lastSuccesses(path string) (map[[2]string]float64, error) {
	out := map[[2]string]float64{}
	fams, err := ParseMetrics(path)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, nil
	}
	for _, m := range fams[MetricSuccess].GetMetric() {
		var account, source string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "account":
				account = l.GetValue()
			case "source":
				source = l.GetValue()
			}
		}
		out[[2]string{account, source}] = m.GetGauge().GetValue()
	}
	return out, nil
}

func unix(t interface{ UnixNano() int64 }) float64 { return float64(t.UnixNano()) / 1e9 }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
