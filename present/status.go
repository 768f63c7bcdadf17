package present

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/internal/oneline"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/model"
	"github.com/repairshop/export/pipeline"
)

// StatusReport is `repairshop-export status --json`: the warehouse's meta state, and
// who is writing it right now.
type StatusReport struct {
	Warehouse string       `json:"warehouse"`
	Running   *load.Holder `json:"running"` // null when no run holds the warehouse
	// Busy is set when a running export has the file open, so the meta
	// tables cannot be read until it finishes.
	Busy bool `json:"busy,omitempty"`
	load.Status
	// Keys is each configured account's rate-budget ledger (shared by every
	// process using the key); empty without a config.
	Keys []pipeline.KeyInfo `json:"keys,omitempty"`
	// Webhooks is each receiving account's event log (repairshop-export listen).
	Webhooks []pipeline.ReceiverInfo `json:"webhooks,omitempty"`
}

func Status(ctx context.Context, out io.Writer, path string, cfg *config.Config, limit int, asJSON bool) error {
	rep := StatusReport{Warehouse: path}
	var changed map[string]time.Time
	if cfg != nil {
		rep.Keys = pipeline.Keys(cfg)
	}
	if load.Held(path) {
		if h, err := load.ReadHolder(path); err == nil {
			rep.Running = &h
		} else {
			rep.Running = &load.Holder{}
		}
	}
	w, err := load.OpenReadOnly(ctx, path)
	switch {
	case err != nil && rep.Running != nil:
		rep.Busy = true
	case err != nil:
		return err
	default:
		defer w.Close()
		unmapped, err := pipeline.OverParts(model.UnmappedStatuses)
		if err != nil {
			unmapped = "" // main.tickets, then
		}
		if rep.Status, err = w.Status(ctx, limit, unmapped); err != nil {
			return err
		}
		changed = lastReportedChanges(ctx, w)
	}
	if cfg != nil {
		loaded := map[string]int64{}
		for _, c := range rep.Cursors {
			if c.Resource == pipeline.EventsCursor {
				loaded[c.Account] = pipeline.EventOffset(c.Value)
			}
		}
		rep.Webhooks = pipeline.Receivers(cfg, loaded, changed, time.Now())
	}
	if asJSON {
		return JSON(out, rep)
	}
	printStatus(out, rep)
	return nil
}

func ts(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// Width is the widest line status prints without --json: cells that
// could be longer (positions, reasons, examples) are cut to fit, with
// "…"; --json has them whole.
const Width = 120

// minute is an instant to the minute, in UTC.
func minute(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// position is a cursor's JSON as key=value pairs, instants to the minute
// (the run id is in meta.cursors, and in --json).
func position(value string) string {
	var m map[string]any
	if json.Unmarshal([]byte(value), &m) != nil {
		return value
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "run_id" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := fmt.Sprint(m[k])
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			v = minute(&t)
		} else if b, err := json.Marshal(m[k]); err == nil && !strings.HasPrefix(string(b), `"`) {
			v = string(b)
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, " ")
}

// ledgerDir is the folder of the keys' ledgers when they share one.
func ledgerDir(keys []pipeline.KeyInfo) string {
	dir := ""
	for _, k := range keys {
		if k.Ledger == "" {
			continue
		}
		if d := filepath.Dir(k.Ledger); dir == "" {
			dir = d
		} else if d != dir {
			return ""
		}
	}
	return dir
}

// wrap breaks s into lines of at most n characters, at spaces.
func wrap(s string, n int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len([]rune(line))+1+len([]rune(w)) > n {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += oneline.Cut(w, n)
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

func printStatus(out io.Writer, r StatusReport) {
	fmt.Fprintf(out, "warehouse %s\n", r.Warehouse)
	if h := r.Running; h != nil {
		fmt.Fprintf(out, "in use now: `%s` (pid %d on %s) since %s\n", h.Command, h.PID, h.Host, ts(&h.Since))
	}
	if r.Busy {
		fmt.Fprintln(out, "the running export has the warehouse open; its tables can be read when it finishes")
		return
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nRUNS (last %d; times in UTC)\n", len(r.Runs))
	fmt.Fprintln(tw, "run\tkind\tstatus\tstarted\ttook\trequests\tadded\tupdated\tdeleted\trejected\tparquet")
	for _, x := range r.Runs {
		took, req, pub := "-", "-", "pending"
		if x.Seconds != nil {
			took = (time.Duration(*x.Seconds * float64(time.Second))).Round(time.Second).String()
		}
		if x.Requests != nil {
			req = fmt.Sprint(*x.Requests)
		}
		if x.PublishedAt != nil {
			pub = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", x.RunID, x.Kind, x.Status, minute(&x.StartedAt), took, req, x.Inserted, x.Updated, x.Deleted, x.Rejected, pub)
		if x.Error != "" && x.Status != load.StatusOK {
			fmt.Fprintf(tw, "  %s\n", oneline.Cut(firstLineOf(x.Error), Width-2))
		}
	}
	fmt.Fprintln(tw, "\nCURSORS (times in UTC)")
	fmt.Fprintln(tw, "account\tresource\tposition (--json: whole)\tupdated")
	for _, c := range r.Cursors {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Account, c.Resource, oneline.Cut(position(c.Value), 68), minute(&c.UpdatedAt))
	}
	fmt.Fprintf(tw, "\nOPEN REJECTS: %d record(s) quarantined and not loaded since (meta.rejects)\n", r.OpenRejects)
	if len(r.Rejects) > 0 {
		fmt.Fprintln(tw, "account\ttable\trecord\ttimes\tlast run\treason")
		for _, x := range r.Rejects {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", x.Account, x.Table, oneline.Cut(x.Key, 16), x.Times, x.LastRunID, oneline.Cut(x.Reason, 40))
		}
	}
	fmt.Fprintln(tw, "\nSCHEMA DRIFT: fields the APIs send that no column declares (kept in _extra)")
	if len(r.Drift) > 0 {
		fmt.Fprintln(tw, "\ttable\tfield\tfirst seen\texample")
		for _, d := range r.Drift {
			mark := ""
			if d.New {
				mark = "NEW"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", mark, d.Table, oneline.Cut(d.Field, 24), minute(&d.FirstSeenAt), oneline.Cut(d.Example, 40))
		}
	}
	if len(r.Details) > 0 {
		fmt.Fprintln(tw, "\nDETAIL QUEUE: documents whose lines/payments are still to fetch (new or changed since fetched)")
		fmt.Fprintln(tw, "account\tresource\tdue\tfetched")
		for _, d := range r.Details {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", d.Account, d.Resource, d.Due, d.Fetched)
		}
	}
	if len(r.Accounts) > 0 {
		fmt.Fprintln(tw, "\nTIME ZONES: days and months in the conformed model (main.*) and the queries count in these")
		fmt.Fprintln(tw, "account\tsource\ttimezone\tfrom")
		for _, a := range r.Accounts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Account, a.Source, a.Timezone, a.Basis)
		}
	}
	if len(r.Unmapped) > 0 {
		fmt.Fprintln(tw, "\nUNMAPPED STATUSES: counted as open; map them with status_groups in the account's config")
		fmt.Fprintln(tw, "source\taccount\tstatus\ttickets")
		for _, u := range r.Unmapped {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", u.Source, u.Account, u.Status, u.Tickets)
		}
	}
	if len(r.Keys) > 0 {
		fmt.Fprintln(tw, "\nAPI KEYS: rate-budget ledgers, shared by every process using the key")
		if dir := ledgerDir(r.Keys); dir != "" {
			fmt.Fprintf(tw, "(ledgers in %s)\n", dir)
		}
		fmt.Fprintln(tw, "account\trequests\trate signals\tlast signal\tsilent until\tledger")
		now := time.Now()
		for _, k := range r.Keys {
			if k.Error != "" {
				fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t%s\n", k.Account, oneline.Cut(k.Error, 60))
				continue
			}
			silent := "-"
			if k.CoolUntil.After(now) {
				silent = ts(&k.CoolUntil)
			}
			last := "-"
			if !k.LastSignal.IsZero() {
				last = ts(&k.LastSignal)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", k.Account, k.Requests, k.Signals, last, silent, oneline.Cut(filepath.Base(k.Ledger), 40))
		}
	}
	if len(r.Webhooks) > 0 {
		fmt.Fprintln(tw, "\nWEBHOOKS: what repairshop-export listen received; repairshop-export run loads it")
		fmt.Fprintln(tw, "account\treceived\tlast event\twaiting to load\trefused\tlast refused")
		for _, h := range r.Webhooks {
			refused := "-"
			if h.LastRefused != nil {
				refused = minute(h.LastRefused) + " (" + oneline.Cut(h.LastReason, 30) + ")"
			}
			last := "-"
			if h.Last != nil {
				last = ts(h.Last)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%s\n", h.Account, h.Received, last, h.Waiting, h.Refused, refused)
			if h.Warning != "" {
				for _, l := range wrap("warning: "+h.Warning, Width-2) {
					fmt.Fprintf(tw, "  %s\n", l)
				}
			}
		}
	}
	if r.PublishPending > 0 {
		fmt.Fprintf(tw, "\nPARQUET: %d partition(s) waiting to be published (the next run or rebuild writes them)\n", r.PublishPending)
	}
	tw.Flush()
}

func firstLineOf(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// lastReportedChanges is, per account, the newest status change the
// source's own timelines report (none when the model is not there yet).
// It reads the part main.status_changes is made of, not the view, which
// orders every change of every ticket: at a million MGR tickets 2 ms
// instead of 430 (the MGR fragment's changes are all 'observed', and the
// filter skips it). A warehouse an older version wrote may lack a table
// the parts read: then the view, as that version created it.
func lastReportedChanges(ctx context.Context, w *load.Warehouse) map[string]time.Time {
	const view = `SELECT account, max(changed_at) FROM main.status_changes WHERE basis = 'timeline' GROUP BY ALL`
	parts, err := pipeline.OverParts(strings.Replace(view, "main.status_changes", "part_status_changes", 1))
	if err != nil {
		parts = view
	}
	res, err := w.Query(ctx, parts)
	if err != nil {
		if res, err = w.Query(ctx, view); err != nil {
			return nil
		}
	}
	out := map[string]time.Time{}
	for _, r := range res.Rows {
		if t, err := time.Parse(time.RFC3339Nano, r[1]); err == nil {
			out[r[0]] = t
		}
	}
	return out
}
