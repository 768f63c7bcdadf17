package lake

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/apache/iceberg-go/table"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/load"
)

// TableStatus is one lake table as its current snapshot has it.
type TableStatus struct {
	Table    string           `json:"table"`
	Snapshot int64            `json:"snapshot"` // 0: no snapshot yet
	At       time.Time        `json:"committed_at"`
	Host     string           `json:"host"`
	Rows     map[string]int64 `json:"rows_by_account"`
	Files    int              `json:"files"`
	Bytes    int64            `json:"bytes"`
}

// HostCommit is the last commit a host made, to any table.
type HostCommit struct {
	Host  string    `json:"host"`
	At    time.Time `json:"committed_at"`
	Table string    `json:"table"`
	Run   string    `json:"run_id"`
}

// Status is `lake status`.
type Status struct {
	Warehouse string        `json:"warehouse"`
	Tables    []TableStatus `json:"tables"`
	Hosts     []HostCommit  `json:"last_commit_by_host"`
	// Unpublished are this host's warehouse's accounts not in the lake
	// yet, by table; UnpublishedErr says why they could not be read.
	Unpublished    map[string][]string `json:"unpublished"`
	UnpublishedErr string              `json:"unpublished_error,omitempty"`
}

// ReadStatus reads every lake table's current snapshot, and what this
// host's warehouse has not published (from a read-only open: a run
// holding the warehouse leaves it unknown).
func ReadStatus(ctx context.Context, cfg *config.Config) (Status, error) {
	l, err := Open(ctx, cfg, nil)
	if err != nil {
		return Status{}, err
	}
	defer l.Close()
	st := Status{Warehouse: l.Warehouse()}
	hosts := map[string]HostCommit{}
	for _, t := range AllTargets() {
		id := table.Identifier{t.Namespace, t.Name}
		tbl, err := l.loadTable(ctx, id)
		if err != nil {
			return st, err
		}
		if tbl == nil {
			continue
		}
		ts, err := tableStatus(ctx, tbl, t.FullName())
		if err != nil {
			return st, fmt.Errorf("lake table %s: %w", t.FullName(), l.storageError(err))
		}
		st.Tables = append(st.Tables, ts)
		for _, s := range tbl.Metadata().Snapshots() {
			if s.Summary == nil || s.Summary.Properties[PropHost] == "" {
				continue
			}
			h := s.Summary.Properties[PropHost]
			at := time.UnixMilli(s.TimestampMs).UTC()
			if at.After(hosts[h].At) {
				hosts[h] = HostCommit{Host: h, At: at, Table: t.FullName(), Run: s.Summary.Properties[PropRun]}
			}
		}
	}
	for _, h := range slices.Sorted(maps.Keys(hosts)) {
		st.Hosts = append(st.Hosts, hosts[h])
	}
	w, err := load.OpenReadOnly(ctx, cfg.Warehouse)
	if err != nil {
		st.UnpublishedErr = fmt.Sprintf("unknown: the warehouse cannot be read now (%v)", err)
		return st, nil
	}
	defer w.Close()
	if st.Unpublished, err = w.LakeQueue(ctx); err != nil {
		st.UnpublishedErr = "unknown: " + err.Error()
	}
	return st, nil
}

// tableStatus sums the current snapshot's live data files.
func tableStatus(ctx context.Context, tbl *table.Table, name string) (TableStatus, error) {
	ts := TableStatus{Table: name, Rows: map[string]int64{}}
	snap := tbl.CurrentSnapshot()
	if snap == nil {
		return ts, nil
	}
	ts.Snapshot, ts.At = snap.SnapshotID, time.UnixMilli(snap.TimestampMs).UTC()
	if snap.Summary != nil {
		ts.Host = snap.Summary.Properties[PropHost]
	}
	files, err := liveFiles(ctx, tbl)
	if err != nil {
		return ts, err
	}
	for _, f := range files {
		ts.Rows[accountOf(f)] += f.Count()
		ts.Files++
		ts.Bytes += f.FileSizeBytes()
	}
	return ts, nil
}

// Write prints the status for people.
func (st Status) Write(out io.Writer) error {
	fmt.Fprintf(out, "lake %s\n\n", st.Warehouse)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "table\tsnapshot\tcommitted (UTC)\tby\tfiles\tMB\trows by account")
	for _, t := range st.Tables {
		var rows []string
		for _, a := range slices.Sorted(maps.Keys(t.Rows)) {
			rows = append(rows, fmt.Sprintf("%s=%d", a, t.Rows[a]))
		}
		at := "-"
		if t.Snapshot != 0 {
			at = t.At.Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%.2f\t%s\n", t.Table, t.Snapshot, at, t.Host, t.Files, float64(t.Bytes)/1e6, strings.Join(rows, " "))
	}
	if len(st.Tables) == 0 {
		fmt.Fprintln(tw, "(no table yet: a run or `repairshop-export lake publish` creates them)")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nlast commit by host:")
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, h := range st.Hosts {
		fmt.Fprintf(tw, "  %s\t%s\t%s\trun %s\n", h.Host, h.At.Format("2006-01-02 15:04:05"), h.Table, h.Run)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch {
	case st.UnpublishedErr != "":
		fmt.Fprintf(out, "\nunpublished on this host: %s\n", st.UnpublishedErr)
	case len(st.Unpublished) == 0:
		fmt.Fprintln(out, "\nunpublished on this host: nothing")
	default:
		fmt.Fprintln(out, "\nunpublished on this host (the next run publishes them):")
		names := slices.Collect(maps.Keys(st.Unpublished))
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(out, "  %s: %s\n", n, strings.Join(st.Unpublished[n], ", "))
		}
	}
	return nil
}
