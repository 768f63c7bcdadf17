// Package outcome turns a finished run into what machines read: one JSON
// summary (--summary-json, --json) and Prometheus metrics in the text
// format for node_exporter's textfile collector (--metrics-file). Both are
// written for every run, a failed or partial one too, and both come from
// the same Summary so that they never disagree.
package outcome

import (
	"encoding/json"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/repairshop/export/load"
	"github.com/repairshop/export/pipeline"
)

// Summary is a run as cron and monitoring see it.
type Summary struct {
	RunID    string    `json:"run_id,omitempty"`
	Command  string    `json:"command"` // run | rebuild
	Status   string    `json:"status"`  // ok | partial | failed
	ExitCode int       `json:"exit_code"`
	Error    string    `json:"error,omitempty"`
	Started  time.Time `json:"started_at"`
	Finished time.Time `json:"finished_at"`
	Seconds  float64   `json:"seconds"`
	// ParquetPartitions is how many Parquet partitions the run published.
	ParquetPartitions int       `json:"parquet_partitions"`
	Accounts          []Account `json:"accounts"`
}

// Account is one account's part of a run.
type Account struct {
	Account  string `json:"account"`
	Source   string `json:"source"`
	Status   string `json:"status"` // ok | partial | failed
	Error    string `json:"error,omitempty"`
	Requests int64  `json:"requests"`
	Inserted int64  `json:"rows_inserted"`
	Updated  int64  `json:"rows_updated"`
	Deleted  int64  `json:"rows_deleted"`
	Rejected int64  `json:"rows_rejected"`
	// Left is what a partial run leaves for the next one; DetailsDue the
	// details queued after the run, per resource.
	Left       string           `json:"left,omitempty"`
	DetailsDue map[string]int64 `json:"details_due"`
	// RateSignals counts the rate-limit signals ever recorded on the key.
	RateSignals int64   `json:"rate_signals"`
	Tables      []Table `json:"tables"`
}

// Table is what the run did to one table of an account.
type Table struct {
	Table     string `json:"table"`
	Received  int64  `json:"received"`
	Inserted  int64  `json:"inserted"`
	Updated   int64  `json:"updated"`
	Unchanged int64  `json:"unchanged"`
	Deleted   int64  `json:"deleted"`
	Rejected  int64  `json:"rejected"`
}

// Configured is an account the config names: a run that failed before it
// began still reports every one of them.
type Configured struct {
	Account, Source string
	RateSignals     int64
}

// Of summarises a run's report. started is when the command began (the
// report's own start when it has one), runErr and exit what the command
// ends with.
func Of(command string, rep pipeline.Report, accounts []Configured, started, finished time.Time, runErr error, exit int) Summary {
	s := Summary{RunID: rep.Summary.RunID, Command: command, Status: rep.Summary.Status, ExitCode: exit,
		Started: started.UTC(), Finished: finished.UTC(), Seconds: finished.Sub(started).Seconds(), ParquetPartitions: len(rep.Published)}
	if runErr != nil {
		s.Error = runErr.Error()
	}
	if s.Status == "" {
		s.Status = load.StatusFailed // it never got as far as a run
	}
	results := map[string]load.AccountResult{}
	for _, r := range rep.Summary.Accounts {
		results[r.Account] = r
	}
	for _, c := range accounts {
		a := Account{Account: c.Account, Source: c.Source, RateSignals: c.RateSignals, DetailsDue: map[string]int64{}, Tables: []Table{}}
		if r, ok := results[c.Account]; ok {
			a.Status, a.Error, a.Requests, a.Left = r.Status, r.Error, r.Requests, r.Left
		} else if command == "rebuild" && rep.Summary.RunID != "" {
			a.Status = s.Status // a rebuild sends no requests: the run's status is each account's
		} else {
			a.Status, a.Error = load.StatusFailed, s.Error
		}
		for _, t := range rep.Summary.Tables {
			if t.Account != c.Account {
				continue
			}
			a.Tables = append(a.Tables, Table{Table: t.Table, Received: t.Received, Inserted: t.Inserted, Updated: t.Updated,
				Unchanged: t.Unchanged, Deleted: t.Deleted, Rejected: t.Rejected})
			a.Inserted += t.Inserted
			a.Updated += t.Updated
			a.Deleted += t.Deleted
			a.Rejected += t.Rejected
		}
		slices.SortFunc(a.Tables, func(x, y Table) int { return strings.Compare(x.Table, y.Table) })
		for _, d := range rep.Backlog {
			if d.Account == c.Account && d.Due > 0 {
				a.DetailsDue[d.Resource] = d.Due
			}
		}
		s.Accounts = append(s.Accounts, a)
	}
	return s
}

// WriteJSON writes the summary as one JSON object on one line.
func (s Summary) WriteJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(s)
}
