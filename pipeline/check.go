package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/load"
)

// Finding is one thing `repairshop-export check` looked at.
type Finding struct {
	What   string `json:"what"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// AccountCheck is an account's readiness: its key, its scope, its zone.
type AccountCheck struct {
	Account  string    `json:"account"`
	Source   string    `json:"source"`
	Ready    bool      `json:"ready"`
	Requests int64     `json:"requests"`
	Findings []Finding `json:"findings"`
}

// Check is `repairshop-export check`: the paths the export writes, then each
// account's key verified with one cheap request (never more: the session
// may send one), its scope and its time zone.
func Check(ctx context.Context, cfg *config.Config, opt Options) ([]Finding, []AccountCheck) {
	opt.defaults()
	var paths []Finding
	state, serr := cfg.StateDirectory()
	dirs := [][2]string{{"warehouse folder", filepath.Dir(cfg.Warehouse)}, {"raw archive", cfg.RawDir()}}
	if cfg.Parquet != "" {
		dirs = append(dirs, [2]string{"parquet", cfg.Parquet})
	}
	if serr == nil {
		dirs = append(dirs, [2]string{"state (key ledgers)", state})
	} else {
		paths = append(paths, Finding{What: "state (key ledgers)", Detail: serr.Error()})
	}
	for _, d := range dirs {
		f := Finding{What: d[0], OK: true, Detail: d[1] + ": writable"}
		if _, err := os.Stat(d[1]); errors.Is(err, os.ErrNotExist) {
			f.Detail = d[1] + ": absent; a run creates it"
		}
		if err := writable(d[1]); err != nil {
			f.OK, f.Detail = false, d[1]+": "+err.Error()
		}
		paths = append(paths, f)
	}
	// The warehouse as a run opens it: absent (created), or a DuckDB file
	// this user can write.
	f := Finding{What: "warehouse file", OK: true, Detail: cfg.Warehouse + ": absent; the first run creates it"}
	if exists, err := load.CheckFile(cfg.Warehouse); err != nil {
		f.OK, f.Detail = false, err.Error()
	} else if exists {
		f.Detail = cfg.Warehouse + ": a DuckDB database, writable"
		if fh, err := os.OpenFile(cfg.Warehouse, os.O_WRONLY, 0); err != nil {
			f.OK, f.Detail = false, "cannot be written: "+err.Error()
		} else {
			fh.Close()
		}
	}
	paths = append(paths, f)

	var out []AccountCheck
	for _, a := range cfg.Accounts {
		out = append(out, checkAccount(ctx, cfg, a, state, serr, opt))
	}
	return paths, out
}

func checkAccount(ctx context.Context, cfg *config.Config, a extract.Account, state string, stateErr error, opt Options) (ac AccountCheck) {
	ac = AccountCheck{Account: a.Name, Source: a.Source}
	add := func(what string, ok bool, detail string) {
		ac.Findings = append(ac.Findings, Finding{what, ok, detail})
	}
	zone := "none configured: days count in the UTC offset the source's timestamps carry, else UTC"
	if a.Timezone != "" {
		zone = a.Timezone
		if loc, err := time.LoadLocation(a.Timezone); err == nil {
			zone += ", now " + time.Now().In(loc).Format("15:04 MST")
		}
	}
	add("time zone", true, zone)
	defer func() {
		ac.Ready = true
		for _, f := range ac.Findings {
			ac.Ready = ac.Ready && f.OK
		}
	}()
	src, ok := sources.Lookup(a.Source)
	if !ok {
		add("source", false, "unknown source "+a.Source)
		return ac
	}
	key, err := cfg.APIKey(a)
	if err != nil {
		add("key", false, err.Error())
		return ac
	}
	add("key variable", true, a.APIKeyEnv+" is set")
	if stateErr != nil {
		add("key", false, "no state directory for the key's ledger: "+stateErr.Error())
		return ac
	}
	ledger, err := openLedger(state, src, a, key)
	if err != nil {
		add("key", false, err.Error())
		return ac
	}
	if st, err := ledger.Read(); err == nil && st.CoolUntil.After(opt.Clock.Now()) {
		add("key", false, fmt.Sprintf("silent until %s after a rate-limit signal (recorded in %s): not asked now", st.CoolUntil.Format(time.RFC3339), ledger.Path()))
		return ac
	}
	sess, err := src.Open(extract.Env{Account: a, Key: key, Ledger: ledger, Clock: opt.Clock, Log: opt.Log.With("account", a.Name, "source", a.Source), MaxRequests: 1})
	if err != nil {
		add("key", false, err.Error())
		return ac
	}
	detail, err := sess.Check(ctx)
	ac.Requests = sess.Requests()
	switch {
	case err == nil:
		add("key", true, detail)
	default:
		add("key", false, diagnose(err, a))
	}
	return ac
}

// writable says whether files can be created in dir, or in the nearest
// folder above it that exists (the export creates the rest).
func writable(dir string) error {
	d := dir
	for {
		info, err := os.Stat(d)
		if err == nil {
			if !info.IsDir() {
				return fmt.Errorf("%s is not a folder", d)
			}
			break
		}
		parent := filepath.Dir(d)
		if parent == d {
			return err
		}
		d = parent
	}
	f, err := os.CreateTemp(d, ".export-check-*")
	if err != nil {
		return fmt.Errorf("cannot create files in %s: %w", d, err)
	}
	f.Close()
	return os.Remove(f.Name())
}
