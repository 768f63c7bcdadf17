package pipeline

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/load"
)

// cancelOn is a log handler that cancels a context when a message is
// logged: a signal at that exact moment of a run.
type cancelOn struct {
	slog.Handler
	msg    string
	cancel context.CancelFunc
}

func (c cancelOn) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == c.msg {
		c.cancel()
	}
	return c.Handler.Handle(ctx, r)
}
func (c cancelOn) WithAttrs(a []slog.Attr) slog.Handler {
	return cancelOn{c.Handler.WithAttrs(a), c.msg, c.cancel}
}
func (c cancelOn) WithGroup(g string) slog.Handler {
	return cancelOn{c.Handler.WithGroup(g), c.msg, c.cancel}
}

// A run stopped after it began but before its accounts started (here a
// signal right after "run started", so that preparing the accounts fails)
// ends in meta.runs as interrupted, not "running": the next run would
// report a process that died.
func TestARunStoppedBeforeItsAccountsStartIsRecordedAsEnded(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.duckdb")
	cfg, err := config.Parse([]byte("warehouse: " + path + "\nstate_dir: " + dir + "/state\naccounts:\n" +
		"  - {name: north, source: tiny, base_url: \"http://127.0.0.1:1/v1\", api_key_env: TEST_ABANDON_KEY}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Getenv = func(string) string { return "k-abandon" }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(cancelOn{slog.NewTextHandler(io.Discard, nil), "run started", cancel})
	if _, err := Run(ctx, cfg, Options{Log: log}); err == nil {
		t.Fatal("the run succeeded after its context was cancelled")
	}
	w, err := load.OpenReadOnly(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	res, err := w.Query(context.Background(), "SELECT status, finished_at IS NOT NULL FROM meta.runs")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 1 || res.Rows[0][0] != load.StatusInterrupted || res.Rows[0][1] != "true" {
		t.Errorf("meta.runs = %v, want one run, interrupted and ended", res.Rows)
	}
}
