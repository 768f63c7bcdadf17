// Package progress draws a run's progress on a terminal: one bar per
// account, filled by the requests sent against the requests the plan
// expects, with the rows loaded, the detail queue, the current wait (a
// rate-limit cool-down, an hourly quota's reset: until when) and an ETA
// from the plan's figures at the key's pace. It polls the pipeline's
// Progress and draws with mpb, which also prints log lines above the bars
// (Display is an io.Writer), so that logs and bars do not tear each other.
//
// It is only for people at a terminal: the command decides when to show it.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/repairshop/export/load"
	"github.com/repairshop/export/pipeline"
)

// Refresh is how often the display polls the run.
const Refresh = 250 * time.Millisecond

// Display is a progress display on a terminal.
type Display struct {
	p    *mpb.Progress
	src  *pipeline.Progress
	now  func() time.Time
	stop chan struct{}
	done chan struct{}

	// bars belong to the polling goroutine (then to Stop). last is read
	// by the bars' decorators, on mpb's goroutines: never hold mu while
	// calling a bar, which may wait for those goroutines.
	bars map[string]*mpb.Bar
	mu   sync.Mutex
	last map[string]pipeline.AccountProgress
	once sync.Once
}

// Start draws src on w until Stop.
func Start(w io.Writer, src *pipeline.Progress) *Display {
	d := &Display{
		p:    mpb.New(mpb.WithOutput(w), mpb.WithRefreshRate(Refresh), mpb.WithWidth(32)),
		src:  src,
		now:  time.Now,
		stop: make(chan struct{}),
		done: make(chan struct{}),
		bars: map[string]*mpb.Bar{},
		last: map[string]pipeline.AccountProgress{},
	}
	go d.loop()
	return d
}

// Write prints log lines above the bars.
func (d *Display) Write(b []byte) (int, error) { return d.p.Write(b) }

// Stop draws the last state and ends every bar: full for an account
// that finished ok, as it stands (with its status) for one that did not,
// and "interrupted" for one still under way (the run was stopped).
func (d *Display) Stop() {
	d.once.Do(func() {
		close(d.stop)
		<-d.done
		for _, a := range d.poll() {
			if b := d.bars[a.Account]; !b.Completed() && !b.Aborted() {
				if !a.Done {
					a.Done, a.Status = true, load.StatusInterrupted
					d.mu.Lock()
					d.last[a.Account] = a
					d.mu.Unlock()
				}
				d.complete(b, a)
			}
		}
		d.p.Wait()
	})
}

func (d *Display) loop() {
	defer close(d.done)
	t := time.NewTicker(Refresh)
	defer t.Stop()
	for {
		d.poll()
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
	}
}

// poll updates the bars from a snapshot of the run, which it returns.
func (d *Display) poll() []pipeline.AccountProgress {
	snap := d.src.Snapshot()
	d.mu.Lock()
	for _, a := range snap {
		d.last[a.Account] = a
	}
	d.mu.Unlock()
	for _, a := range snap {
		b := d.bars[a.Account]
		if b == nil {
			name := a.Account
			// Total 0: mpb leaves the bar open until it is told to
			// complete (a positive total here would complete it as soon
			// as the count reached it, whatever SetTotal says later).
			b = d.p.AddBar(0,
				mpb.PrependDecorators(decor.Name(fmt.Sprintf("%s (%s)", a.Account, a.Source), decor.WCSyncSpaceR)),
				mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace), decor.Any(func(decor.Statistics) string { return "  " + d.info(name) })))
			d.bars[a.Account] = b
		}
		if b.Completed() || b.Aborted() {
			continue
		}
		if a.Done {
			d.complete(b, a)
			continue
		}
		// Requests beyond the plan (it counts a never-exported list as
		// one page) grow the bar rather than overflow it.
		b.SetTotal(max(a.Planned, a.Requests+1, 1), false)
		b.SetCurrent(a.Requests)
	}
	return snap
}

// complete ends a bar: full when the account succeeded (its requests
// were all it needed), else left where it stopped, its line saying why.
func (d *Display) complete(b *mpb.Bar, a pipeline.AccountProgress) {
	if a.Succeeded() {
		b.SetCurrent(a.Requests)
		b.SetTotal(-1, true) // the total becomes the current count: 100 %
		return
	}
	// The total stays above the count: a count that reaches the total
	// completes the bar, drawn full (a request made since the last poll
	// did, when the signal came before the plan was known).
	b.SetTotal(max(a.Planned, a.Requests+1, 1), false)
	b.SetCurrent(a.Requests)
	b.Abort(false) // drawn as it stands, not as 100 %
}

// info is the text after an account's bar.
func (d *Display) info(account string) string {
	d.mu.Lock()
	a := d.last[account]
	d.mu.Unlock()
	return Line(a, d.now())
}

// Line describes an account's progress in one line.
func Line(a pipeline.AccountProgress, now time.Time) string {
	parts := []string{fmt.Sprintf("%d/%d req", a.Requests, max(a.Planned, a.Requests)), fmt.Sprintf("%d rows", a.Rows)}
	if a.Queue > 0 {
		parts = append(parts, fmt.Sprintf("%d details queued", a.Queue))
	}
	if a.Done {
		return strings.Join(append(parts, a.Status), " · ")
	}
	if a.WaitUntil.After(now) {
		parts = append(parts, fmt.Sprintf("waiting %s until %s: %s", a.WaitUntil.Sub(now).Round(time.Second), a.WaitUntil.Local().Format("15:04:05"), a.WaitWhy))
	}
	if a.Pace > 0 {
		parts = append(parts, fmt.Sprintf("ETA %s at %.0f req/min", a.ETA(now).Round(time.Second), a.Pace))
	}
	return strings.Join(parts, " · ")
}
