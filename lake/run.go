package lake

// The lake's commands: the end of a run's publish, and `lake publish` of
// the whole warehouse.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/pipeline"
)

// AllTargets are every registered source's tables and the conformed
// model's views.
func AllTargets() []Target {
	var views []string
	for _, v := range pipeline.ConformedViews() {
		views = append(views, v.Name)
	}
	return Targets(sources.Tables(), views)
}

// Publisher is pipeline.Options.Lake for a config with a lake: at the end
// of a run it opens the lake and publishes what the warehouse queued.
// hook is the crash tests' (nil in production).
func Publisher(cfg *config.Config, hook func(string)) func(context.Context, *load.Warehouse, string) (string, error) {
	return func(ctx context.Context, w *load.Warehouse, runID string) (string, error) {
		l, err := Open(ctx, cfg, hook)
		if err != nil {
			return "", err
		}
		defer l.Close()
		res, err := l.Publish(ctx, w, AllTargets(), runID)
		return res.Line(l.Warehouse()), err
	}
}

// PublishAll is `lake publish`: every account of every table, the first
// time or after a lake was restored.
func PublishAll(ctx context.Context, cfg *config.Config, hook func(string)) (Result, string, error) {
	now := time.Now()
	w, done, err := pipeline.OpenForWrite(ctx, cfg, "repairshop-export lake publish", now, hook)
	if err != nil {
		return Result{}, "", err
	}
	defer done()
	targets := AllTargets()
	var names []string
	for _, t := range targets {
		if t.Queue != load.LakeViews {
			names = append(names, t.Queue)
		}
	}
	runID := "lake-" + now.UTC().Format("20060102T150405.000Z")
	if err := w.QueueLakeAll(ctx, names, runID); err != nil {
		return Result{}, "", err
	}
	l, err := Open(ctx, cfg, hook)
	if err != nil {
		return Result{}, "", err
	}
	defer l.Close()
	res, err := l.Publish(ctx, w, targets, runID)
	return res, res.Line(l.Warehouse()), err
}

// Line says what a publish did, in a line.
func (r Result) Line(warehouse string) string {
	files, tables := 0, 0
	var created []string
	for _, c := range r.Commits {
		if c.Snapshot != 0 {
			tables++
		}
		files += c.Files
		if c.Created {
			created = append(created, c.Table)
		}
	}
	if len(r.Commits) == 0 {
		return fmt.Sprintf("nothing changed, no commit (%s)", warehouse)
	}
	line := fmt.Sprintf("%d table(s) committed, %d data file(s), %d commit(s) retried after another host's, in %s", tables, files, r.Retries(), warehouse)
	if len(created) > 0 {
		line += fmt.Sprintf("; %d new table(s): %s", len(created), strings.Join(shorten(created, 4), ", "))
	}
	return line
}

func shorten(names []string, n int) []string {
	if len(names) <= n {
		return names
	}
	return append(names[:n:n], fmt.Sprintf("… (%d more)", len(names)-n))
}
