package pipeline

import (
	"context"
	"sync"
	"time"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/load"
)

// Progress is how a run is going, account by account, for a display that
// polls it (Snapshot). The run fills it: the plan's requests at the start,
// then requests sent, rows loaded, the detail queue and the current wait.
// A nil *Progress is valid and records nothing.
type Progress struct {
	mu       sync.Mutex
	accounts []*accountProgress
}

// AccountProgress is one account's progress at one moment.
type AccountProgress struct {
	Account, Source string
	// Planned is the requests the plan expects the run to need (export
	// plan's figure); Requests those sent so far. Pace is the key's
	// requests per minute.
	Planned, Requests int64
	Pace              float64
	// Rows is the rows loaded (staged into the warehouse) so far.
	Rows int64
	// Queue is the details still to fetch in this run.
	Queue int64
	// WaitUntil is when the current wait ends (zero: not waiting); WaitWhy
	// what it waits for (a rate-limit cool-down, the hourly quota's reset).
	WaitUntil time.Time
	WaitWhy   string
	// Done is set when the account's extraction ends, with its status.
	Done   bool
	Status string
}

// Succeeded reports whether the account's extraction ended ok: only then
// is its bar full.
func (a AccountProgress) Succeeded() bool { return a.Done && a.Status == load.StatusOK }

// ETA is how long the rest of the plan takes at the key's pace, plus the
// current wait: from the plan's figures, not from the speed so far.
func (a AccountProgress) ETA(now time.Time) time.Duration {
	if a.Done {
		return 0
	}
	left := max(a.Planned-a.Requests, 0)
	d := time.Duration(0)
	if a.Pace > 0 {
		d = time.Duration(float64(left) / a.Pace * float64(time.Minute))
	}
	if a.WaitUntil.After(now) {
		d += a.WaitUntil.Sub(now)
	}
	return d
}

type accountProgress struct {
	AccountProgress
	requests func() int64
}

// Snapshot copies every account's progress.
func (p *Progress) Snapshot() []AccountProgress {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]AccountProgress, len(p.accounts))
	for i, a := range p.accounts {
		out[i] = a.AccountProgress
		if a.requests != nil && !a.Done {
			out[i].Requests = a.requests()
		}
	}
	return out
}

func (p *Progress) add(account, source string) *accountProgress {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	a := &accountProgress{AccountProgress: AccountProgress{Account: account, Source: source}}
	p.accounts = append(p.accounts, a)
	return a
}

// update changes an account's progress under the lock (nil: nothing).
func (p *Progress) update(a *accountProgress, f func(*accountProgress)) {
	if p == nil || a == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	f(a)
}

// waitClock reports the account's long sleeps as its current wait.
type waitClock struct {
	budget.Clock
	p *Progress
	a *accountProgress
}

// A sleep shorter than this is pacing, not worth showing.
const showWaitsFrom = 5 * time.Second

func (c waitClock) Sleep(ctx context.Context, d time.Duration) error {
	if d < showWaitsFrom {
		return c.Clock.Sleep(ctx, d)
	}
	why := budget.WaitReason(ctx)
	if why == "" {
		why = "pacing to the key's rate"
	}
	until := c.Now().Add(d)
	c.p.update(c.a, func(a *accountProgress) { a.WaitUntil, a.WaitWhy = until, why })
	defer c.p.update(c.a, func(a *accountProgress) { a.WaitUntil, a.WaitWhy = time.Time{}, "" })
	return c.Clock.Sleep(ctx, d)
}

// planProgress puts each account's plan (repairshop-export plan's figures, no
// probes) and its key's pace into the progress.
func planProgress(ctx context.Context, cfg *config.Config, w *load.Warehouse, accts []*account, state string, opt Options) error {
	backlog, err := w.DetailBacklog(ctx)
	if err != nil {
		return err
	}
	due := map[[2]string]int64{}
	for _, d := range backlog {
		due[[2]string{d.Account, d.Resource}] = d.Due
	}
	for _, x := range accts {
		pa, err := planAccount(ctx, cfg, w, x.a, due, false, state, opt)
		if err != nil {
			return err
		}
		requests := func() int64 { return 0 }
		if x.sess != nil {
			requests = x.sess.Requests
		}
		x.prog.update(x.progress, func(a *accountProgress) {
			a.Planned, a.Pace, a.requests = pa.Requests, pa.Pace, requests
		})
	}
	return nil
}

// progressOf maps the accounts with a progress by name (nil for none).
func progressOf(accts []*account) map[string]*account {
	var out map[string]*account
	for _, x := range accts {
		if x.progress != nil {
			if out == nil {
				out = map[string]*account{}
			}
			out[x.a.Name] = x
		}
	}
	return out
}

// loaded counts a page's rows (its top-level table's) as loaded.
func (x *account) loaded(p *prepared) {
	if p == nil || p.b == nil || p.b.Record == nil {
		return
	}
	n := p.b.Record.NumRows()
	x.prog.update(x.progress, func(a *accountProgress) { a.Rows += n })
}

// queued sets the details left to fetch.
func (x *account) queued(n int) {
	x.prog.update(x.progress, func(a *accountProgress) { a.Queue = int64(n) })
}

// finished marks the account's extraction over.
func (x *account) finished(res load.AccountResult) {
	x.prog.update(x.progress, func(a *accountProgress) {
		a.Done, a.Status, a.Requests, a.Queue = true, res.Status, res.Requests, 0
		a.WaitUntil, a.WaitWhy = time.Time{}, ""
	})
}
