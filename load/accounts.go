package load

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// What the conformed views need beyond the rows: each account's time zone
// (meta.accounts) and the status rules (meta.status_groups). Both come
// from the config, written at every run and rebuild; a zone the config
// does not give is inferred from the source's own timestamps (NoteZone).

// Zone bases: where an account's time zone comes from.
const (
	ZoneFromConfig = "config"
	ZoneFromSource = "offset of the source's timestamps"
	ZoneUTCDefault = "UTC: no timezone configured, and the source's timestamps carry no local offset"
)

// AccountInfo is an account as the config names it.
type AccountInfo struct {
	Name, Source string
	// Timezone is the IANA name the config gives ("" for none).
	Timezone string
	// Currency is the ISO 4217 code the config gives ("" for none).
	Currency string
}

// StatusRule maps a normalised status label of an account ("*": every
// account) to its group.
type StatusRule struct {
	Account, Label, Group string
}

// SetAccounts records the configured accounts (a configured time zone
// replaces any inferred one; without one, an inferred zone stays) and the
// status rules, replacing the rules written before. When that changes
// what the conformed views read (a currency, a zone, a rule), the views
// are queued for the Parquet tree and the lake, as a changed table
// queues them: the next publish rewrites them even when no row changed.
func (w *Warehouse) SetAccounts(ctx context.Context, accounts []AccountInfo, rules []StatusRule) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.inTx(ctx, func() error {
		before, err := w.viewInputs(ctx)
		if err != nil {
			return err
		}
		if err := w.setAccounts(ctx, accounts, rules); err != nil {
			return err
		}
		after, err := w.viewInputs(ctx)
		if err != nil || after == before {
			return err
		}
		if err := w.defineLocalDay(ctx); err != nil {
			return err
		}
		if _, err := w.execSQL(ctx, `INSERT INTO meta.publish_queue VALUES (?, '*', 0, 0, ?) ON CONFLICT DO NOTHING`, viewsQueued, configChange); err != nil {
			return fmt.Errorf("queue the conformed model: %w", err)
		}
		if len(w.tables) == 0 {
			return nil
		}
		if _, err := w.execSQL(ctx, `INSERT INTO meta.lake_queue SELECT ?, account, ? FROM (`+w.accountsWithRows()+`) ON CONFLICT DO NOTHING`, LakeViews, configChange); err != nil {
			return fmt.Errorf("queue the conformed model for the lake: %w", err)
		}
		return nil
	})
}

// configChange is the run_id of the queue rows a config change wrote.
const configChange = "config"

// viewInputs digests what the conformed views read of meta.accounts and
// meta.status_groups.
func (w *Warehouse) viewInputs(ctx context.Context) (string, error) {
	var d string
	err := w.conn.QueryRowContext(ctx, `SELECT
		(SELECT coalesce(md5(string_agg(concat_ws('|', account, source, timezone, currency), ';' ORDER BY account)), '') FROM meta.accounts) || ' ' ||
		(SELECT coalesce(md5(string_agg(concat_ws('|', account, label, status_group), ';' ORDER BY account, label)), '') FROM meta.status_groups)`).Scan(&d)
	if err != nil {
		return "", fmt.Errorf("read the accounts and status rules: %w", err)
	}
	return d, nil
}

// setAccounts writes the accounts and rules; the caller holds the
// transaction.
func (w *Warehouse) setAccounts(ctx context.Context, accounts []AccountInfo, rules []StatusRule) error {
	for _, a := range accounts {
		zone, basis := any(nil), ZoneUTCDefault
		if a.Timezone != "" {
			zone, basis = a.Timezone, ZoneFromConfig
		}
		currency := any(nil)
		if a.Currency != "" {
			currency = a.Currency
		}
		_, err := w.execSQL(ctx, `INSERT INTO meta.accounts AS m (account, source, timezone, timezone_basis, currency) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT DO UPDATE SET source = excluded.source, currency = excluded.currency,
				timezone = CASE WHEN excluded.timezone_basis = ? OR m.timezone_basis = ? THEN excluded.timezone ELSE m.timezone END,
				timezone_basis = CASE WHEN excluded.timezone_basis = ? OR m.timezone_basis = ? THEN excluded.timezone_basis ELSE m.timezone_basis END`,
			a.Name, a.Source, zone, basis, currency, ZoneFromConfig, ZoneFromConfig, ZoneFromConfig, ZoneFromConfig)
		if err != nil {
			return fmt.Errorf("record account %s: %w", a.Name, err)
		}
	}
	if _, err := w.execSQL(ctx, `DELETE FROM meta.status_groups`); err != nil {
		return fmt.Errorf("status rules: %w", err)
	}
	for start := 0; start < len(rules); start += 200 {
		chunk := rules[start:min(start+200, len(rules))]
		args := make([]any, 0, 3*len(chunk))
		for _, r := range chunk {
			args = append(args, r.Account, r.Label, r.Group)
		}
		vals := strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(chunk)), ", ")
		if _, err := w.execSQL(ctx, `INSERT OR REPLACE INTO meta.status_groups VALUES `+vals, args...); err != nil {
			return fmt.Errorf("status rules: %w", err)
		}
	}
	return nil
}

// NoteZone records the zone an account's source timestamps carry
// ("UTC-06:00"), committed with the next checkpoint; a configured zone
// wins over it.
func (w *Warehouse) NoteZone(account, zone string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.zones == nil {
		w.zones = map[string]string{}
	}
	w.zones[account] = zone
}

// commitZones writes the noted zones; the caller holds the checkpoint's
// transaction.
func (w *Warehouse) commitZones(ctx context.Context) error {
	for a, z := range w.zones {
		if _, err := w.execSQL(ctx, `UPDATE meta.accounts SET timezone = ?, timezone_basis = ? WHERE account = ? AND timezone_basis <> ?`,
			z, ZoneFromSource, a, ZoneFromConfig); err != nil {
			return fmt.Errorf("time zone of %s: %w", a, err)
		}
	}
	if len(w.zones) == 0 {
		return nil
	}
	return w.defineLocalDay(ctx)
}

// defineLocalDay (re)defines meta.local_day(tz, ts): the date instant ts
// falls on in time zone tz (NULL: UTC), by which the conformed views
// bucket days. It is CAST(timezone(tz, ts) AS DATE), but DuckDB's ICU
// builds a time zone from its name for every row when the zone varies by
// row (a column from meta.accounts), and once when it is a constant: 1.3 s
// against 0.05 s for a million rows here, a third of main.tickets'
// publish. So each zone meta.accounts holds is a branch of its own with
// the zone as a constant; any other (a row whose account the table does
// not list, or the name spelt otherwise) takes the per-row path, with the
// same answer. It is redefined when the zones change, in the transaction
// that changes them; a view binds the macro as it is when queried.
func (w *Warehouse) defineLocalDay(ctx context.Context) error {
	zones := []string{"UTC"}
	err := w.scan(ctx, `SELECT DISTINCT timezone FROM meta.accounts WHERE timezone IS NOT NULL AND timezone <> 'UTC' ORDER BY 1`, nil, func(r *sql.Rows) error {
		var z string
		err := r.Scan(&z)
		zones = append(zones, z)
		return err
	})
	if err != nil {
		return fmt.Errorf("read the accounts' time zones: %w", err)
	}
	key := strings.Join(zones, "\n")
	if key == w.dayZones {
		return nil
	}
	var b strings.Builder
	b.WriteString("CREATE OR REPLACE MACRO meta.local_day(tz, ts) AS CASE coalesce(tz, 'UTC')")
	for _, z := range zones {
		fmt.Fprintf(&b, "\n  WHEN %[1]s THEN CAST(timezone(%[1]s, ts) AS DATE)", sqlString(z))
	}
	b.WriteString("\n  ELSE CAST(timezone(coalesce(tz, 'UTC'), ts) AS DATE)\nEND")
	if _, err := w.execSQL(ctx, b.String()); err != nil {
		return fmt.Errorf("define meta.local_day: %w", err)
	}
	w.dayZones = key
	return nil
}

// View is a view the warehouse keeps: schema.name AS sql.
type View struct {
	Schema, Name, SQL string
	Doc               string // for its Parquet manifest
}

// EnsureViews (re)creates views, in order (each after those it reads).
func (w *Warehouse) EnsureViews(ctx context.Context, views []View) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.defineLocalDay(ctx); err != nil {
		return err
	}
	for _, v := range views {
		if err := w.exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+Quote(v.Schema),
			fmt.Sprintf("CREATE OR REPLACE VIEW %s.%s AS\n%s", Quote(v.Schema), Quote(v.Name), v.SQL)); err != nil {
			return fmt.Errorf("view %s.%s: %w", v.Schema, v.Name, err)
		}
	}
	return nil
}
