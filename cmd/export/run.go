package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/schema"
	"github.com/repairshop/export/transform"
)

// errPartial marks a run stopped by a rate budget: exit code 3.
var errPartial = errors.New("partial run: stopped by the rate budget; the next run resumes")

// mgrResources maps each MGR list resource to its table.
var mgrResources = []struct {
	res   mgr.Resource
	table *schema.Table
}{
	{mgr.Tickets, schema.MGRTickets},
}

type page struct {
	account string
	table   *schema.Table
	records []byte
	fetched time.Time
}

func newRunID(now time.Time) string {
	b := make([]byte, 3)
	rand.Read(b)
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// runExport extracts every account concurrently (each paced on its own
// key), transforms and stages pages as they arrive, then commits the run and
// publishes Parquet. The returned error carries the exit code.
func runExport(ctx context.Context, cfg *Config, clock budget.Clock, log *slog.Logger, out io.Writer) (load.Summary, error) {
	keys := make([]string, len(cfg.Accounts))
	for i, a := range cfg.Accounts {
		k, err := a.apiKey()
		if err != nil {
			return load.Summary{}, err
		}
		keys[i] = k
	}
	w, err := load.Open(ctx, cfg.Warehouse)
	if err != nil {
		return load.Summary{}, err
	}
	defer w.Close()
	if err := w.Ensure(ctx, schema.All...); err != nil {
		return load.Summary{}, err
	}
	started := clock.Now()
	runID := newRunID(started)
	if err := w.BeginRun(ctx, runID, started); err != nil {
		return load.Summary{}, err
	}
	log.Info("run started", "run", runID, "accounts", len(cfg.Accounts), "warehouse", cfg.Warehouse)

	pages := make(chan page, 8)
	results := make([]load.AccountResult, len(cfg.Accounts))
	var wg sync.WaitGroup
	// Extraction stops if loading fails: nothing fetched would be kept.
	xctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i, a := range cfg.Accounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = extractAccount(xctx, a, keys[i], clock, log, pages)
		}()
	}
	go func() { wg.Wait(); close(pages) }()

	var loadErr error
	for p := range pages {
		if loadErr != nil {
			continue // drain so extractors can finish
		}
		b, err := transform.Page(p.table, p.records, transform.Meta{Account: p.account, RunID: runID, ExtractedAt: p.fetched}, nil)
		if err == nil {
			err = w.Stage(ctx, p.account, b)
			b.Release()
		}
		if err != nil {
			loadErr = fmt.Errorf("account %s: %w", p.account, err)
			cancel()
		}
	}

	status, runErr := runStatus(results, loadErr)
	errText := ""
	if runErr != nil {
		errText = runErr.Error()
	}
	sum, err := w.Commit(ctx, runID, clock.Now(), status, results, errText)
	if err != nil {
		return sum, errors.Join(err, runErr)
	}
	printSummary(out, sum, clock.Now().Sub(started))
	if cfg.Parquet != "" {
		pub, err := w.Publish(ctx, cfg.Parquet)
		if err != nil {
			return sum, errors.Join(fmt.Errorf("rows are committed, Parquet is not up to date (the next run retries): %w", err), runErr)
		}
		fmt.Fprintf(out, "parquet: %d partition(s) published under %s\n", len(pub), cfg.Parquet)
	}
	if sum.Totals().Rejected > 0 {
		fmt.Fprintf(out, "%d record(s) rejected: see meta.rejects (`export query rejects`)\n", sum.Totals().Rejected)
	}
	return sum, runErr
}

func extractAccount(ctx context.Context, a Account, key string, clock budget.Clock, log *slog.Logger, pages chan<- page) (res load.AccountResult) {
	res = load.AccountResult{Account: a.Name, Source: a.Source, Status: load.StatusOK}
	opts := []mgr.Option{mgr.WithClock(clock), mgr.WithLogger(log.With("account", a.Name))}
	if a.BaseURL != "" {
		opts = append(opts, mgr.WithBaseURL(a.BaseURL))
	}
	if a.RequestsPerMinute > 0 {
		opts = append(opts, mgr.WithRateLimit(a.RequestsPerMinute, time.Minute, 0))
	}
	c, err := mgr.NewClient(key, opts...)
	if err != nil {
		res.Status, res.Error = load.StatusFailed, err.Error()
		return res
	}
	defer func() { res.Requests = c.Requests() }()
	for _, r := range mgrResources {
		n := 0
		err := c.List(ctx, r.res, func(p mgr.Page) error {
			n += p.Count
			select {
			case pages <- page{account: a.Name, table: r.table, records: p.Records, fetched: p.FetchedAt}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if err != nil {
			res.Status, res.Error = load.StatusFailed, fmt.Sprintf("account %s: %v", a.Name, err)
			if errors.Is(err, mgr.ErrRateBudget) {
				res.Status = load.StatusPartial
			}
			log.Error("extract failed", "account", a.Name, "resource", r.res.Name, "error", err)
			return res
		}
		log.Info("extracted", "account", a.Name, "resource", r.res.Name, "records", n, "requests", c.Requests())
	}
	return res
}

// runStatus folds the accounts' outcomes into the run's status and error.
func runStatus(results []load.AccountResult, loadErr error) (string, error) {
	if loadErr != nil {
		return load.StatusFailed, loadErr
	}
	var failed, partial []error
	for _, r := range results {
		switch r.Status {
		case load.StatusFailed:
			failed = append(failed, errors.New(r.Error))
		case load.StatusPartial:
			partial = append(partial, errors.New(r.Error))
		}
	}
	switch {
	case len(failed) > 0:
		return load.StatusFailed, errors.Join(append(failed, partial...)...)
	case len(partial) > 0:
		return load.StatusPartial, fmt.Errorf("%w: %w", errPartial, errors.Join(partial...))
	}
	return load.StatusOK, nil
}

func printSummary(out io.Writer, s load.Summary, took time.Duration) {
	fmt.Fprintf(out, "run %s: %s in %s\n", s.RunID, s.Status, took.Round(time.Millisecond))
	fmt.Fprintf(out, "%-10s %-26s %9s %9s %9s %9s %9s\n", "account", "table", "received", "inserted", "updated", "unchanged", "rejected")
	for _, t := range s.Tables {
		fmt.Fprintf(out, "%-10s %-26s %9d %9d %9d %9d %9d\n", t.Account, t.Table, t.Received, t.Inserted, t.Updated, t.Unchanged, t.Rejected)
	}
	for _, a := range s.Accounts {
		fmt.Fprintf(out, "account %s (%s): %s, %d request(s)\n", a.Account, a.Source, a.Status, a.Requests)
	}
}
