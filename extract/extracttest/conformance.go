package extracttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/listing"
	"github.com/repairshop/export/extract/wiretest"
)

// Sim is a source's simulator as the conformance suite drives it: a real
// HTTP server on loopback, in the suite's simulated time, enforcing the
// vendor's documented limits, seeded with a small account or two.
type Sim struct {
	URL string
	// Wire is in front of it: network and proxy faults.
	Wire *wiretest.Wire
	// Accounts are the simulator's accounts with their keys.
	Accounts []SimKey
	// Rows says how many records of each resource's table (by full name)
	// a complete export of the account holds now, from the simulator's
	// own data.
	Rows func(account string) map[string]int
	// Churn works on the account's data as a shop does while an export
	// pages: it adds records at the head of its largest list and deletes
	// some; it returns the ids added and deleted.
	Churn func(account string) (added, deleted []string)
	// Change gives some of the account's records a new version, and
	// returns their ids.
	Change func(account string) []string
	// Fail makes the requests after the next after answer with the status
	// (401, 403, 429 with the quota in fact spent elsewhere, or a 5xx),
	// worded as the API words it, until the simulator closes; false when
	// the API is not documented to send it.
	Fail func(status, after int) bool
	// RateLimited counts the rate-limit errors the account was sent.
	RateLimited func(account string) int
	// Details counts the successful detail requests the account made, by
	// "resource/id" (the resource as the path spells it, lower case).
	Details func(account string) map[string]int
	// Faults are the simulator's own faults that a client must survive
	// (a burst of 5xx, a truncated body, an HTML page with status 200, a
	// page served twice, pages shifted by a record added or deleted
	// ahead, …): each injects its fault into the fresh simulator.
	Faults []Fault
	Close  func()
}

// Fault is one of a simulator's faults.
type Fault struct {
	Name   string
	Inject func()
}

// SimKey is a simulator's account.
type SimKey struct{ Name, Key string }

// Verdicts every source gives a failure that outlasts its retries: the
// key refused or not allowed stops the account; a rate limit ends its run
// as partial (the next run resumes); a server error fails only its part.
var Verdicts = map[int]extract.Verdict{401: extract.Stop, 403: extract.Stop, 429: extract.Partial, 500: extract.Skip}

// Conformance is the suite every source passes, run from the source's own
// folder against its simulator (start makes a fresh one in clk's time):
//
//   - the Source is complete (extract.Validate);
//   - a first run lists every record of every resource once, and marks
//     the last page of each listing complete;
//   - a listing while records are added and deleted misses nothing that
//     stayed: what the run and the next one list is all that is there;
//   - a record's detail is the record;
//   - the requests keep within the documented limits: the simulator
//     enforces them, and sends no rate-limit error;
//   - 401, 403, 429 and 5xx get the same verdicts from every source
//     (Verdicts), and a listing that failed marks no page complete (so no
//     record is taken for deleted);
//   - connection resets, empty bodies and JSON labelled as text are
//     survived; JSON nested too deep fails with its cause;
//   - each fault of the API's own the simulator knows (Sim.Faults) is
//     survived, every record listed;
//   - a record changed since the last run is listed again, as a new
//     version;
//   - a run killed at any crash point resumes from what it committed and
//     lists everything.
//
// What the warehouse makes of the responses (history rows, deletes,
// equality with the simulator's books) is checked end to end per source
// by the tests in cmd/export.
func Conformance(t *testing.T, src *extract.Source, start func(t *testing.T, clk *budget.Fake) *Sim) {
	t.Helper()
	if err := extract.Validate(src); err != nil {
		t.Fatal(err)
	}
	c := conformance{src: src, start: start}
	t.Run("lists every record once", c.listsEverything)
	t.Run("a listing under churn misses nothing that stayed", c.churn)
	t.Run("a detail is its record", c.details)
	t.Run("requests keep within the documented limits", c.pacing)
	for _, status := range []int{401, 403, 429, 500} {
		t.Run(fmt.Sprintf("verdict for %d", status), func(t *testing.T) { c.verdict(t, status) })
	}
	t.Run("network faults are survived", c.network)
	t.Run("the API's own faults are survived", c.faults)
	t.Run("a changed record is listed again", c.versions)
	t.Run("a run killed at a crash point resumes", c.kills)
}

type conformance struct {
	src   *extract.Source
	start func(t *testing.T, clk *budget.Fake) *Sim
}

// rows are the simulator's counts of the resources' own tables (child
// tables' rows come from their parents' records, without ids of their
// own).
func (c conformance) rows(s *Sim, account string) map[string]int {
	out := map[string]int{}
	all := s.Rows(account)
	for _, r := range c.src.Resources {
		if n, ok := all[r.Table.FullName()]; ok {
			out[r.Table.FullName()] = n
		}
	}
	return out
}

// Epoch is the suites' simulated start.
var Epoch = time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC)

func (c conformance) sim(t *testing.T) (*Sim, *budget.Fake) {
	t.Helper()
	clk := budget.NewFake(Epoch)
	s := c.start(t, clk)
	t.Cleanup(s.Close)
	if len(s.Accounts) == 0 {
		t.Fatal("the simulator has no accounts")
	}
	return s, clk
}

// open opens a session on the simulator's first account.
func (c conformance) open(t *testing.T, s *Sim, clk *budget.Fake, runID string, hook func(string)) extract.Session {
	t.Helper()
	a := extract.Account{Name: s.Accounts[0].Name, Source: c.src.Name, BaseURL: s.URL}
	if c.src.Options != nil {
		a.Options = c.src.Options()
	}
	se, err := c.src.Open(extract.Env{Account: a, RunID: runID, Key: s.Accounts[0].Key, Clock: clk, Log: slog.New(slog.DiscardHandler), Hook: hook})
	if err != nil {
		t.Fatal(err)
	}
	return se
}

// listed are the ids of the records each table's list responses held
// (decoded as the warehouse would), with how often each came.
type listed map[string]map[string]int

// union are the ids of a table listed in l or in m.
func (l listed) union(m listed, table string) map[string]bool {
	out := map[string]bool{}
	for _, ids := range []map[string]int{l[table], m[table]} {
		for id := range ids {
			out[id] = true
		}
	}
	return out
}

func (c conformance) decode(t *testing.T, rec *Recorder) listed {
	t.Helper()
	out := listed{}
	for _, r := range rec.Responses {
		d, err := c.src.Decode(r.Entry)
		if err != nil {
			t.Fatalf("decode %s: %v", r.Entry.Resource, err)
		}
		{
			var recs []json.RawMessage
			if err := json.Unmarshal(d.Records, &recs); err != nil {
				t.Fatalf("%s: records are not a JSON array: %v", d.Table.FullName(), err)
			}
			if out[d.Table.FullName()] == nil {
				out[d.Table.FullName()] = map[string]int{}
			}
			for _, raw := range recs {
				if id, ok := recordKey(d, raw); ok {
					out[d.Table.FullName()][id]++
				}
			}
		}
	}
	return out
}

// recordKey is a record's key, by its table's key columns (read from the
// record, or from the request for a fixed column).
func recordKey(d extract.Decoded, raw json.RawMessage) (string, bool) {
	var obj map[string]any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if dec.Decode(&obj) != nil {
		return "", false
	}
	var parts []string
	for _, k := range d.Table.Key {
		i := d.Table.ColumnIndex(k)
		if i < 0 {
			return "", false
		}
		c := d.Table.Columns[i]
		if c.System && !c.Fixed {
			continue // the account: the same for every record here
		}
		v, found := "", false
		for _, p := range c.Paths {
			if x, ok := listing.Lookup(obj, p); ok && x != nil {
				v, found = fmt.Sprint(x), true
				break
			}
		}
		if !found {
			v, found = d.Fixed[k]
		}
		if !found {
			return "", false
		}
		parts = append(parts, v)
	}
	return strings.Join(parts, "\x00"), len(parts) > 0
}

// run runs a session's tasks as a run does: a task that fails with the
// verdict Skip leaves the others to go on, Partial and Stop end the
// account's run. It returns what they emitted and the errors.
func run(ctx context.Context, s extract.Session, st extract.Stored) (*Recorder, []error) {
	rec := &Recorder{}
	tasks, err := s.Tasks(ctx, st)
	if err != nil {
		return rec, []error{err}
	}
	var errs []error
	for _, task := range tasks {
		rec.Tasks = append(rec.Tasks, task.Name)
		if err := task.Run(ctx, rec); err != nil {
			errs = append(errs, &TaskError{Task: task.Name, Err: err})
			if v := s.Verdict(err); ctx.Err() != nil || v == extract.Partial || v == extract.Stop {
				break
			}
		}
	}
	return rec, errs
}

func (c conformance) listsEverything(t *testing.T) {
	s, clk := c.sim(t)
	rec, errs := run(context.Background(), c.open(t, s, clk, "r1", nil), Stored{})
	if len(errs) > 0 {
		t.Fatalf("a first run failed: %v", errs)
	}
	got := c.decode(t, rec)
	for table, n := range c.rows(s, s.Accounts[0].Name) {
		if len(got[table]) != n {
			t.Errorf("%s: %d records listed, the simulator holds %d", table, len(got[table]), n)
		}
		for id, times := range got[table] {
			if times > 1 {
				t.Errorf("%s: record %s passed on %d times", table, id, times)
			}
		}
	}
	complete := map[string]bool{}
	for _, r := range rec.Responses {
		complete[r.Entry.Resource] = complete[r.Entry.Resource] || r.Entry.Complete
	}
	for _, r := range c.src.Resources {
		if len(rec.Of(r.Name)) > 0 && slices.Equal(r.Table.Key, []string{"id"}) && !complete[r.Name] {
			t.Errorf("%s: no page of its complete listing is marked complete (deletes would never be seen)", r.Name)
		}
	}
}

// listedAll checks that rec listed every record the simulator holds.
func (c conformance) listedAll(t *testing.T, s *Sim, rec *Recorder) {
	t.Helper()
	got := c.decode(t, rec)
	for table, n := range c.rows(s, s.Accounts[0].Name) {
		if len(got[table]) != n {
			t.Errorf("%s: %d records listed, the simulator holds %d", table, len(got[table]), n)
		}
	}
}

func (c conformance) churn(t *testing.T) {
	s, clk := c.sim(t)
	account := s.Accounts[0].Name
	var added, deleted []string
	em := &churner{Recorder: &Recorder{}, after: 2, do: func() { added, deleted = s.Churn(account) }}
	se := c.open(t, s, clk, "r1", nil)
	tasks, err := se.Tasks(context.Background(), Stored{})
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if err := task.Run(context.Background(), em); err != nil {
			t.Fatalf("%s: %v", task.Name, err)
		}
	}
	if added == nil && deleted == nil {
		t.Fatal("the simulator changed nothing")
	}
	clk.Advance(time.Hour)
	rec2, errs := run(context.Background(), c.open(t, s, clk, "r2", nil), Stored{}.After(em.Recorder))
	if len(errs) > 0 {
		t.Fatalf("the next run: %v", errs)
	}
	first, second := c.decode(t, em.Recorder), c.decode(t, rec2)
	for table, n := range c.rows(s, account) {
		union := first.union(second, table)
		for _, id := range deleted {
			delete(union, id) // listed before it went: the warehouse marks it deleted
		}
		if len(union) < n {
			t.Errorf("%s: the two runs listed %d of the %d records there now (added %v, deleted %v)", table, len(union), n, added, deleted)
		}
	}
}

// churner is a Recorder that works on the data after some responses.
type churner struct {
	*Recorder
	after int
	n     int // responses emitted
	do    func()
}

func (c *churner) Emit(ctx context.Context, r extract.Response) error {
	if c.n++; c.n == c.after {
		c.do()
	}
	return c.Recorder.Emit(ctx, r)
}

func (c conformance) details(t *testing.T) {
	s, clk := c.sim(t)
	se := c.open(t, s, clk, "r1", nil)
	rec, errs := run(context.Background(), se, Stored{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	got := c.decode(t, rec)
	tried := 0
	for _, r := range c.src.Resources {
		if !r.Detail {
			continue
		}
		ids := slices.Sorted(maps.Keys(got[r.Table.FullName()]))
		for _, id := range ids[:min(len(ids), 2)] {
			tried++
			p, err := se.Detail(context.Background(), r.Name, id)
			if err != nil {
				t.Errorf("%s %s: %v", r.Name, id, err)
				continue
			}
			d, err := c.src.Decode(p.DetailEntry("x"))
			if err != nil {
				t.Errorf("%s %s: decode: %v", r.Name, id, err)
				continue
			}
			var recs []json.RawMessage
			json.Unmarshal(d.Records, &recs)
			if len(recs) != 1 {
				t.Errorf("%s %s: the detail holds %d records", r.Name, id, len(recs))
				continue
			}
			if gid, _ := listing.RecordID(recs[0]); gid != id {
				t.Errorf("%s %s: the detail is record %s", r.Name, id, gid)
			}
		}
	}
	if tried == 0 {
		t.Skip("the source has no resource with a detail endpoint")
	}
}

func (c conformance) pacing(t *testing.T) {
	s, clk := c.sim(t)
	se := c.open(t, s, clk, "r1", nil)
	began := clk.Now()
	if _, errs := run(context.Background(), se, Stored{}); len(errs) > 0 {
		t.Fatal(errs)
	}
	if n := s.RateLimited(s.Accounts[0].Name); n > 0 {
		t.Errorf("%d rate-limit errors at the documented limits (%d requests in %s)", n, se.Requests(), clk.Now().Sub(began))
	}
	// A source paced by the minute spaces its requests; one metered by the
	// hour may burst within its quota (the simulator counts it).
	if pace := c.src.Pace(extract.Account{Name: s.Accounts[0].Name, Source: c.src.Name}); pace.PerHour == 0 && pace.Interval() > 0 && se.Requests() > 2 {
		if took, least := clk.Now().Sub(began), pace.Interval()*time.Duration(se.Requests()-1)/2; took < least {
			t.Errorf("%d requests in %s: faster than the pace %s allows", se.Requests(), took, pace.Label)
		}
	}
}

func (c conformance) verdict(t *testing.T, status int) {
	s, clk := c.sim(t)
	if !s.Fail(status, 1) {
		t.Skipf("the API is not documented to answer %d", status)
	}
	se := c.open(t, s, clk, "r1", nil)
	rec, errs := run(context.Background(), se, Stored{})
	if len(errs) == 0 {
		t.Fatalf("every task succeeded although every request after the first answers %d", status)
	}
	for _, err := range errs {
		var te *TaskError
		if !errors.As(err, &te) {
			continue
		}
		if got := se.Verdict(te.Err); got != Verdicts[status] {
			t.Errorf("%d: %s: verdict %v, want %v (%v)", status, te.Task, got, Verdicts[status], te.Err)
		}
	}
	failed := map[string]bool{}
	for _, err := range errs {
		var te *TaskError
		if errors.As(err, &te) {
			failed[te.Task] = true
		}
	}
	for _, task := range rec.Tasks {
		if !failed[task] {
			continue
		}
		for _, r := range rec.Responses {
			if r.Entry.Complete && "listing "+r.Entry.Resource == task {
				t.Errorf("%s failed, yet a page of it is marked complete: records not listed would be taken for deleted", task)
			}
		}
	}
}

func (c conformance) network(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fault wiretest.Faults
		cause string // "" for survived
	}{
		{"connection resets", wiretest.Faults{Reset: 3}, ""},
		{"empty bodies with status 200", wiretest.Faults{Empty: 2}, ""},
		{"JSON labelled text/plain", wiretest.Faults{WrongType: 5}, ""},
		{"JSON nested 10,001 deep", wiretest.Faults{Deep: 1}, "nested more than 10,000 levels"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, clk := c.sim(t)
			if s.Wire == nil {
				t.Fatal("the simulator has no wire in front of it")
			}
			s.Wire.Inject(tt.fault)
			rec, errs := run(context.Background(), c.open(t, s, clk, "r1", nil), Stored{})
			if tt.cause != "" {
				if len(errs) == 0 || !strings.Contains(errs[0].Error(), tt.cause) {
					t.Errorf("errors %v, want one saying %q", errs, tt.cause)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatalf("not survived: %v", errs)
			}
			c.listedAll(t, s, rec)
		})
	}
}

func (c conformance) faults(t *testing.T) {
	probe := c.start(t, budget.NewFake(Epoch))
	names := make([]string, len(probe.Faults))
	for i, f := range probe.Faults {
		names[i] = f.Name
	}
	probe.Close()
	if len(names) == 0 {
		t.Skip("the simulator knows no faults of the API's own")
	}
	for i, name := range names {
		t.Run(name, func(t *testing.T) {
			s, clk := c.sim(t)
			s.Faults[i].Inject()
			rec, errs := run(context.Background(), c.open(t, s, clk, "r1", nil), Stored{})
			if len(errs) > 0 {
				t.Fatalf("not survived: %v", errs)
			}
			c.listedAll(t, s, rec)
		})
	}
}

func (c conformance) versions(t *testing.T) {
	s, clk := c.sim(t)
	rec1, errs := run(context.Background(), c.open(t, s, clk, "r1", nil), Stored{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	clk.Advance(time.Hour)
	changed := s.Change(s.Accounts[0].Name)
	if len(changed) == 0 {
		t.Fatal("the simulator changed no record")
	}
	clk.Advance(time.Hour)
	rec2, errs := run(context.Background(), c.open(t, s, clk, "r2", nil), Stored{}.After(rec1))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	again := map[string]bool{}
	for _, ids := range c.decode(t, rec2) {
		for id := range ids {
			again[id] = true
		}
	}
	for _, id := range changed {
		if !again[id] {
			t.Errorf("record %s changed after the first run, and the next run did not list it", id)
		}
	}
}

func (c conformance) kills(t *testing.T) {
	for _, at := range []int{1, 2, 5, 9} {
		t.Run(fmt.Sprintf("at answer %d", at), func(t *testing.T) {
			s, clk := c.sim(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			answers := 0
			hook := func(string) {
				if answers++; answers == at {
					cancel()
				}
			}
			rec1, _ := run(ctx, c.open(t, s, clk, "r1", hook), Stored{})
			// What reached the warehouse: everything emitted but the last
			// response (a checkpoint commits whole responses or none).
			committed := &Recorder{Responses: rec1.Responses[:max(len(rec1.Responses)-1, 0)]}
			clk.Advance(time.Minute)
			rec2, errs := run(context.Background(), c.open(t, s, clk, "r2", nil), Stored{}.After(committed))
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			first, second := c.decode(t, committed), c.decode(t, rec2)
			for table, n := range c.rows(s, s.Accounts[0].Name) {
				if union := first.union(second, table); len(union) != n {
					t.Errorf("%s: %d records after the kill and the next run, the simulator holds %d", table, len(union), n)
				}
			}
		})
	}
}
