package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/load"
)

// OpenForReading opens the warehouse at path (cfg's when empty) read-only,
// or, with fromParquet or while a run holds the warehouse (DuckDB then
// admits no other process), a snapshot served from the Parquet files cfg
// publishes. It tells say which, with the run the snapshot shows, and
// returns what it opened in words, for a caption. cfg may be nil when
// path is given and fromParquet is false; command names the command in a
// usage error.
func OpenForReading(ctx context.Context, cfg *config.Config, path string, fromParquet bool, command string, say func(string)) (*load.Warehouse, string, error) {
	if path == "" {
		path = cfg.Warehouse
	}
	if !fromParquet {
		w, err := load.OpenReadOnly(ctx, path)
		if err == nil || !errors.Is(err, load.ErrBusy) || cfg == nil || cfg.Parquet == "" {
			return w, "the warehouse " + path, err
		}
		busy := "another process"
		if h, herr := load.ReadHolder(path); herr == nil && h.PID != 0 {
			busy = fmt.Sprintf("`%s` (pid %d, since %s)", h.Command, h.PID, h.Since.Local().Format(time.RFC3339))
		}
		say(fmt.Sprintf("the warehouse is busy: %s has it open.", busy))
	}
	if cfg.Parquet == "" {
		return nil, "", config.Usagef("%s: --from-parquet needs a config whose `parquet:` names the published files", command)
	}
	w, snap, err := load.OpenParquet(ctx, cfg.Parquet)
	if err != nil {
		return nil, "", fmt.Errorf("read the Parquet files: %w", err)
	}
	say(fmt.Sprintf("answering from the Parquet files under %s, as published at %s by run %s (%d tables; meta.* is in the warehouse only).",
		snap.Root, snap.WrittenAt.Local().Format(time.RFC3339), snap.RunID, snap.Tables))
	return w, fmt.Sprintf("the Parquet files under %s as published at %s", snap.Root, snap.WrittenAt.Local().Format("2006-01-02 15:04 MST")), nil
}
