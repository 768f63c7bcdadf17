// Package model owns the conformed model: the views in the warehouse's
// main schema that give every source the same tables (tickets, customers,
// invoices, …) with the same column names and types, a source and an
// account on every row. The SQL is in this folder, one view per file,
// embedded; the warehouse (re)creates the views at every run and rebuild.
//
// The views name no source. Each reads parts (parts.go): relations with a
// declared column list that every source fills with a fragment of its own,
// a SELECT over its own tables kept in its folder
// (extract/<source>/model/<part>.sql). Adding a source adds fragments,
// never an edit here.
//
// It also owns what the views need beyond the rows: which status labels
// mean open, waiting, done or cancelled (data: defaults here, overridden
// per account in the config), and each account's time zone, by which the
// views bucket days and months.
package model

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

//go:embed *.sql
var files embed.FS

// View is one conformed view: main.<Name>.
type View struct {
	Name string
	Doc  string // the file's first comment lines
	SQL  string // the SELECT
}

// viewOrder lists the views so that each comes after those it reads.
var viewOrder = []string{
	"tickets", "status_changes", "customers", "invoices", "invoice_lines", "payments",
	"purchase_orders", "purchase_order_lines", "inventory", "kpi_daily",
}

// Views returns the conformed views, each after those it reads, composed
// with the sources' fragments (see Part): a view names the parts it
// reads, never a source. A view reading a part no one declared is a bug
// in this folder, caught by its tests.
func Views(fragments []Fragment) []View {
	out := make([]View, 0, len(viewOrder))
	for _, name := range viewOrder {
		b, err := files.ReadFile(name + ".sql")
		if err != nil {
			panic(fmt.Sprintf("model: %s.sql is missing", name)) // embedded: a build error, caught by the tests
		}
		sql, err := Compose(string(b), fragments)
		if err != nil {
			panic(fmt.Sprintf("model: %s.sql: %v", name, err)) // caught by the tests
		}
		v := View{Name: name, SQL: sql, Doc: header(string(b))}
		if from := fillers(string(b), fragments); len(from) > 0 {
			v.Doc += " From " + strings.Join(from, ", ") + "."
		}
		out = append(out, v)
	}
	return out
}

// header is a SQL file's first comment lines, as one line.
func header(sql string) string {
	var doc []string
	for _, line := range strings.Split(sql, "\n") {
		if !strings.HasPrefix(line, "--") {
			break
		}
		doc = append(doc, strings.TrimSpace(strings.TrimPrefix(line, "--")))
	}
	return strings.Join(doc, " ")
}

// fillers are the sources whose fragments a view reads.
func fillers(view string, fragments []Fragment) []string {
	var out []string
	for _, m := range partRef.FindAllStringSubmatch(view, -1) {
		for _, f := range fragments {
			if f.Part == m[1] && !slices.Contains(out, f.Source) {
				out = append(out, f.Source)
			}
		}
	}
	slices.Sort(out)
	return out
}

// ReadFragments reads a source's fragments: <part>.sql files, each with a
// header comment, each for a declared part.
func ReadFragments(source string, fsys fs.FS) ([]Fragment, error) {
	if fsys == nil {
		return nil, nil
	}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var out []Fragment
	for _, n := range names {
		part := strings.TrimSuffix(n, ".sql")
		if _, ok := PartNamed(part); !ok {
			return nil, fmt.Errorf("%s model fragment %s: no part is named %s (parts: %s)", source, n, part, strings.Join(PartNames(), ", "))
		}
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("%s model fragment %s: %w", source, n, err)
		}
		f := Fragment{Source: source, Part: part, SQL: string(b), Doc: header(string(b))}
		if f.Doc == "" {
			return nil, fmt.Errorf("%s model fragment %s: no header comment (say what the source's rows are)", source, n)
		}
		out = append(out, f)
	}
	return out, nil
}

// The status groups every ticket status falls into.
const (
	Open      = "open"
	Waiting   = "waiting"
	Done      = "done"
	Cancelled = "cancelled"
)

// Groups are the status groups, in workflow order.
var Groups = []string{Open, Waiting, Done, Cancelled}

// NormalLabel is how a status label is matched: case, surrounding space
// and underscores (READY_FOR_PICKUP) do not count. The views match with
// the same rule: lower(trim(replace(label, '_', ' '))).
func NormalLabel(label string) string {
	return strings.ToLower(strings.TrimSpace(strings.ReplaceAll(label, "_", " ")))
}

// UnmappedStatuses is a query (see Compose) of the live tickets' status
// labels that no rule maps: source, account, status and how many tickets
// have it; main.tickets has them with status_mapped false. It counts the
// labels before it matches them, and reads part_tickets, not the view,
// whose closing times read every ticket's history: at a million tickets
// 13 ms instead of 490.
const UnmappedStatuses = `SELECT c.source, c.account, c.status, c.tickets FROM (
    SELECT source, account, status, count(*) AS tickets FROM part_tickets WHERE status IS NOT NULL GROUP BY ALL
) c
WHERE NOT EXISTS (
    SELECT 1 FROM meta.status_groups r
    WHERE r.account IN (c.account, '*') AND r.label = lower(trim(replace(c.status, '_', ' ')))
)`

// DefaultStatusGroups maps common status labels (English, Spanish, French,
// German; both APIs' documented codes) to their group. "Ready for
// collection" waits (for the customer): a ticket is done when it is
// closed. A label no rule maps counts as open, and `repairshop-export status` lists
// it so that the owner can map it (status_groups in the config).
var DefaultStatusGroups = map[string][]string{
	Open: {
		"new", "open", "opened", "in progress", "diagnosing", "diagnosis", "diagnostics", "intake", "triage", "in repair", "repairing", "qc review", "quality check", "testing", "booked in", "checked in", "received",
		"nuevo", "abierto", "en diagnóstico", "en diagnostico", "en reparación", "en reparacion", "en proceso", "recibido",
		"nouveau", "ouvert", "en cours", "en diagnostic", "en réparation", "reçu",
		"neu", "offen", "in bearbeitung", "in diagnose", "in reparatur", "eingegangen",
	},
	Waiting: {
		"waiting", "waiting for parts", "awaiting parts", "parts ordered", "waiting for customer", "awaiting customer", "awaiting approval", "waiting for approval", "on hold", "pending", "ready for collection", "ready for pickup", "ready to collect", "awaiting pickup", "awaiting collection",
		"en espera", "esperando repuestos", "esperando piezas", "esperando aprobación", "esperando cliente", "pendiente", "listo para entregar", "listo para recoger",
		"en attente", "en attente de pièces", "en attente du client", "en attente d'accord", "prêt", "prêt à récupérer", "à récupérer",
		"wartet", "wartet auf teile", "warten auf teile", "wartet auf kunde", "wartet auf freigabe", "abholbereit", "bereit zur abholung",
	},
	Done: {
		"done", "closed", "completed", "complete", "collected", "picked up", "delivered", "resolved", "finished", "invoiced", "paid",
		"entregado", "completado", "terminado", "finalizado", "cerrado", "reparación terminada", "reparacion terminada",
		"terminé", "terminée", "livré", "clôturé", "fermé", "récupéré",
		"abgeschlossen", "erledigt", "abgeholt", "geschlossen", "ausgeliefert",
	},
	Cancelled: {
		"cancelled", "canceled", "void", "voided", "rejected", "declined", "not repaired", "unrepairable", "abandoned",
		"cancelado", "anulado", "rechazado", "no reparado",
		"annulé", "annulée", "refusé", "non réparé",
		"storniert", "abgebrochen", "abgelehnt", "nicht repariert",
	},
}

// StatusRule is one row of meta.status_groups: a label (normalised) of an
// account ("*": every account) and its group.
type StatusRule struct {
	Account, Label, Group string
}

// StatusRules are the defaults (account "*") then each account's own
// groups, which win over them.
func StatusRules(accounts map[string]map[string][]string) []StatusRule {
	var out []StatusRule
	for _, g := range Groups {
		for _, l := range DefaultStatusGroups[g] {
			out = append(out, StatusRule{"*", NormalLabel(l), g})
		}
	}
	names := make([]string, 0, len(accounts))
	for a := range accounts {
		names = append(names, a)
	}
	slices.Sort(names)
	for _, a := range names {
		seen := map[string]bool{}
		for _, g := range Groups {
			for _, l := range accounts[a][g] {
				if n := NormalLabel(l); !seen[n] {
					seen[n] = true
					out = append(out, StatusRule{a, n, g})
				}
			}
		}
	}
	return out
}

// CheckGroups reports a status_groups config that names a group that is
// not one of Groups, or one label in two groups.
func CheckGroups(groups map[string][]string) error {
	for g := range groups {
		if !slices.Contains(Groups, g) {
			return fmt.Errorf("status_groups: %q is not a group (want %s)", g, strings.Join(Groups, ", "))
		}
	}
	in := map[string]string{}
	for _, g := range Groups { // in order: the same error every time
		for _, l := range groups[g] {
			n := NormalLabel(l)
			if n == "" {
				return fmt.Errorf("status_groups: %s: an empty label", g)
			}
			if other, ok := in[n]; ok && other != g {
				return fmt.Errorf("status_groups: %q is in both %s and %s", n, other, g)
			}
			in[n] = g
		}
	}
	return nil
}
