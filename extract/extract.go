// Package extract is the contract every API source implements, and the
// parts its clients share. A source (extract/mgr, extract/repairops) owns its
// whole API: client, wire types, table declarations, sync tasks, how an
// archived response decodes, its plan estimate, its config keys and a
// simulator. It describes itself as a Source value (rclone's RegInfo, say);
// the driver (package pipeline) runs every source the same way and is the
// only one that touches the warehouse.
//
// Nothing here knows DuckDB or Arrow: sources yield raw responses and the
// records they hold; transform and load take it from there.
package extract

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/listing"
	"github.com/repairshop/export/schema"
)

// Source is one API, declared as data with the functions that give it
// life. A new source is a folder under extract/ with the same shape as the
// others, whose Source value is added to the list in extract/sources.
type Source struct {
	// Name is the config's `source:` value, the warehouse schema and the
	// Parquet folder, e.g. "mgr".
	Name string
	// Title names the API in messages, e.g. "My Gadget Repairs"; Short is
	// the short form ("MGR").
	Title, Short string
	// Limits states the API's documented rate limits and what happens
	// past them, in a sentence for --help.
	Limits string
	// Tables are the declared tables, children after their parent.
	Tables []*schema.Table
	// Resources are what a run exports, in the order it spends its budget.
	Resources []Resource

	// Options returns a fresh value for an account's own config keys (a
	// pointer to a struct with yaml tags), Settings one for the source's
	// top-level keys (nil: none).
	Options  func() Options
	Settings func() Options

	// LedgerID names the rate-budget ledger an account's requests pace
	// through: by default one per key (budget.KeyID).
	LedgerID func(a Account, key string) string
	// Webhooks is set for a source that sends webhooks (nil: none).
	Webhooks *Webhooks
	// Pace is the rate an account's requests go at, for estimates.
	Pace func(a Account) Pace
	// Open starts an account's session on its key: the client, and what
	// it will do in a run.
	Open func(env Env) (Session, error)
	// Decode reads an archived response: the one path from a response to
	// the warehouse, for `repairshop-export run` and `repairshop-export rebuild` alike.
	Decode func(e archive.Entry) (Decoded, error)
	// Model holds the source's fragments of the conformed model (package
	// model): <part>.sql, one SELECT over its own tables per part it fills.
	// A part it has no fragment for gets no rows from it.
	Model fs.FS
	// Queries are the analytics queries that make sense for this source
	// only (<name>.sql, in the shape of package queries' files);
	// `repairshop-export query --list` lists them with the source.
	Queries fs.FS
	// PlanList estimates the list requests the next run of an account
	// needs for one resource whose list holds size records, from what is
	// stored; known reports an estimate that needs no size.
	PlanList func(ctx context.Context, a Account, r Resource, size int64, st Stored, now time.Time) (requests int64, note string, known bool, err error)
}

// Resource is one thing a source exports, tied to the table it loads.
type Resource struct {
	// Name is the resource as the API and the config's `resources:` name
	// it, e.g. "tickets" or "customFields/tickets".
	Name  string
	Table *schema.Table
	// Fixed are the values of the table's FromRequest columns (the type of
	// /customFields/{type}).
	Fixed map[string]string
	// Detail is set when each record's detail is worth a request of its
	// own: the records go through the detail queue.
	Detail bool
}

// Lookup finds a source's resource by name.
func (s *Source) Lookup(name string) (Resource, bool) { return Find(s.Resources, name) }

// Find finds a resource by name in a list.
func Find(rs []Resource, name string) (Resource, bool) {
	for _, r := range rs {
		if r.Name == name {
			return r, true
		}
	}
	return Resource{}, false
}

// AccountResources is what an account exports: its `resources:`, or all of
// them, in budget order.
func (s *Source) AccountResources(a Account) []Resource { return Chosen(s.Resources, a) }

// Chosen is AccountResources of a list of resources.
func Chosen(rs []Resource, a Account) []Resource {
	var out []Resource
	for _, r := range rs {
		if len(a.Resources) == 0 || contains(a.Resources, r.Name) {
			out = append(out, r)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Account is one configured account as its source sees it.
type Account struct {
	Name      string
	Source    string
	BaseURL   string // "" for the vendor's
	APIKeyEnv string
	Resources []string
	// Timezone is the shop's IANA time zone ("" for none: the one its
	// timestamps carry, else UTC), by which days and months are counted.
	Timezone string
	// Currency is the ISO 4217 code of the shop's money ("" for not
	// set): reports draw each currency on its own axis.
	Currency string
	// StatusGroups map the shop's own status labels to open, waiting,
	// done or cancelled, before the defaults.
	StatusGroups map[string][]string
	// Timeout bounds one HTTP request (0: the source's default, 60 s): a
	// server that stalls is given up on and asked again.
	Timeout time.Duration
	// Webhook is where `repairshop-export listen` receives the account's webhooks
	// (nil: none), for a source that sends them.
	Webhook *Webhook
	// Options are the account's own keys, Settings the source's top-level
	// keys, each as the source's Options and Settings parsed them.
	Options  Options
	Settings Options
}

// Webhook is an account's webhook endpoint, as the config gives it.
type Webhook struct {
	// Path is the URL path deliveries come to, e.g. /hooks/metro.
	Path string `yaml:"path"`
	// SecretEnv names the environment variable that holds the signing
	// secret (never the secret itself).
	SecretEnv string `yaml:"secret_env"`
	// SignatureHeader is the header the signature comes in ("": the
	// source's default).
	SignatureHeader string `yaml:"signature_header,omitempty"`
}

// Webhooks says how a source's webhooks are signed and named.
type Webhooks struct {
	// SignatureHeader is the header the HMAC-SHA256 signature of the raw
	// body comes in when the config names none.
	SignatureHeader string
	// EventID names a delivery so that it loads exactly once: the
	// sender's own id when it gives one, else a hash of what the event
	// says (its name, time and data).
	EventID func(h http.Header, body []byte) string
	// Names says which record an event names (resource and id), whose
	// detail a run fetches before anything else ("" for none).
	Names func(body []byte) (resource, id string)
	// Fingerprint is the list fingerprint a detail fetched because an
	// event named it stands for, read from the detail's own copy of the
	// list fields ("" when it cannot tell): the next listing then sees the
	// record as fetched, not as due again.
	Fingerprint func(resource string, detail []byte) string
	// RetrySpan is how long the sender retries a failed delivery before it
	// gives up (and may disable the endpoint).
	RetrySpan time.Duration
	// Resources name the archive entries a batch of events loads as (one
	// per table: Decode reads each from the same batch of event-log
	// lines, a JSON array).
	Resources []string
}

// Options is a source's parsed config keys: a pointer to a struct whose
// yaml tags name the keys. Check reports what is wrong with the values.
type Options interface {
	Check() []error
}

// Env is what a session runs with.
type Env struct {
	Account Account
	// RunID names the run, for the cursors the session writes.
	RunID  string
	Key    string
	Ledger *budget.Ledger
	Clock  budget.Clock
	Log    *slog.Logger
	// MaxRequests and Deadline are the run's own budget (zero: none).
	MaxRequests int64
	Deadline    time.Time
	// Hook is called at the client's crash points (rest.HookAnswered);
	// nil in production.
	Hook func(point string)
}

// Pace is the rate an account's requests go at.
type Pace struct {
	PerMinute float64
	PerHour   float64 // set for a source metered by the hour
	Label     string  // e.g. "27/min", "900/h"
}

// Interval is the time one request takes at this pace.
func (p Pace) Interval() time.Duration {
	if p.PerMinute <= 0 {
		return 0
	}
	return time.Duration(float64(time.Minute) / p.PerMinute)
}

// Session is one account's client for one run (or one plan's probes).
type Session interface {
	// Tasks are the run's lists, in the order to run them, given what the
	// warehouse holds. Each task emits its responses as it fetches them.
	Tasks(ctx context.Context, st Stored) ([]Task, error)
	// Detail fetches one record's detail.
	Detail(ctx context.Context, resource, id string) (Page, error)
	// Verdict is the source's one classifier of what a failure means for
	// the run.
	Verdict(err error) Verdict
	// Probe bounds a list's size without reading it: lo ≤ size < hi (hi
	// = lo when exact). ErrNoProbe: the resource cannot be sized so.
	Probe(ctx context.Context, r Resource) (lo, hi int64, err error)
	// Check sends one cheap request and says what it learned of the key
	// (its scope, its quota), or why the key will not do for an export.
	Check(ctx context.Context) (string, error)
	// Requests is how many requests the session has sent.
	Requests() int64
	// CoolingUntil is the end of a rate-limit silence on the key.
	CoolingUntil() time.Time
	// Gaps says what the tasks left for the next run without an error (a
	// KPI window the API refused), "" if nothing: the run ends partial.
	Gaps() string
}

// ErrNoProbe is a Probe's answer for a resource it cannot size.
var ErrNoProbe = errors.New("this resource cannot be probed")

// Task is one step of a session's run, typically one listing.
type Task struct {
	// Name says what the task does, as errors and logs say it
	// ("listing tickets").
	Name string
	// Resource is the resource it lists.
	Resource string
	Run      func(ctx context.Context, emit Emitter) error
}

// Emitter takes a session's responses on to the warehouse (and the raw
// archive). Emit returns once the response is queued; an error ends the
// task.
type Emitter interface {
	Emit(ctx context.Context, r Response) error
}

// Response is one fetched response and what committing it means.
type Response struct {
	// Entry is the response as the raw archive keeps it: resource, kind,
	// request parameters, fetch time, dropped positions, body.
	Entry archive.Entry
	// Cursor is the value the cursor named CursorKey (default: the
	// resource) takes once this response is committed; "" leaves it.
	Cursor, CursorKey string
	// Next is where the listing goes on after this page (an offset), for
	// the summary of what a stopped run leaves.
	Next int
}

// Verdict is what a failure means for a run.
type Verdict int

const (
	// Skip: this part failed and is tried again next run; the rest goes on
	// (a streak of such failures stops the account).
	Skip Verdict = iota
	// Partial: the account stops, nothing went wrong (the rate budget, the
	// quota, the run's own cap); the next run resumes.
	Partial
	// Stop: the account stops and fails (the key, a block, a refusal that
	// may be a rate-limit error in disguise).
	Stop
	// Gone: the record no longer exists (a detail's 404); it leaves the
	// detail queue.
	Gone
)

// String names a verdict.
func (v Verdict) String() string {
	switch v {
	case Skip:
		return "skip"
	case Partial:
		return "partial"
	case Stop:
		return "stop"
	case Gone:
		return "gone"
	}
	return fmt.Sprintf("verdict %d", int(v))
}

// Decoded is what an archived response holds for the warehouse.
type Decoded struct {
	Table *schema.Table
	// Records is a JSON array of the records.
	Records json.RawMessage
	// Fixed are the values of FromRequest (and OrRequest) columns.
	Fixed map[string]string
	// Partial: the response may lack columns another view of the same
	// records carries (a list page beside its detail), so it must not
	// erase them.
	Partial bool
	// Listed, on a list page of a resource with a detail, are its records
	// for the detail queue.
	Listed []listing.Listed
	// Fetched, on a detail response, is the id of the record fetched.
	Fetched string
}

// Stored is what the warehouse holds for one account, as a session reads it.
type Stored interface {
	// Cursor is the committed value of a cursor ("" if none).
	Cursor(name string) string
	// Cursors are the committed cursors whose name starts with prefix.
	Cursors(prefix string) map[string]string
	// Values are the distinct non-NULL values of a column in the
	// account's rows of a table, sorted.
	Values(ctx context.Context, t *schema.Table, column string) ([]string, error)
}

// Page is one successful list or detail response, as a client fetched it.
type Page struct {
	Resource string     // e.g. "tickets"
	Params   url.Values // query parameters sent (never the key)
	Body     []byte     // the response body exactly as received, for the raw archive
	// Records is a JSON array of the records on this page not already seen
	// earlier in the same listing (APIs whose ordering is loose, or sorted
	// by a field that changes while a client pages, repeat some).
	Records json.RawMessage
	Count   int // records in Records
	Dupes   int // records on the page dropped as already seen
	// Dropped are the positions in the body's array of the records left
	// out of Records, so that the archived body replays exactly.
	Dropped   []int
	FetchedAt time.Time
	// Total is the listing's size as the API reported it (-1: not said).
	Total int
	// Next is the offset the following page starts at, and Last is set on
	// the listing's final page: together, where a resumed listing goes on.
	Next int
	Last bool
}

// ListEntry is the archive entry of a list page.
func (p Page) ListEntry() archive.Entry {
	return archive.Entry{Resource: p.Resource, Kind: archive.KindList, Params: p.Params, FetchedAt: p.FetchedAt, Dropped: p.Dropped, Body: p.Body}
}

// DetailEntry is the archive entry of a detail response fetched for a list
// fingerprint.
func (p Page) DetailEntry(fingerprint string) archive.Entry {
	return archive.Entry{Resource: p.Resource, Kind: archive.KindDetail, FetchedAt: p.FetchedAt, Fingerprint: fingerprint, Body: p.Body}
}

// Simulator is a source's built-in simulator as `repairshop-export simulate` serves
// it on loopback: its flags, and how to start it. A running simulation
// says what it does (webhooks delivered, say) on the writer Start is
// given, a line at a time.
type Simulator struct {
	Source string
	Flags  []SimFlag
	Start  func(f FlagValues, say io.Writer) (*Simulation, error)
}

// SimFlag is one flag of `repairshop-export simulate`. Default is a string, an int or
// an []int (nil: a list of ints with no default); an int flag must be
// positive.
type SimFlag struct {
	Name, Usage string
	Default     any
}

// FlagValues reads flag values (a *cli.Context is one).
type FlagValues interface {
	String(name string) string
	Int(name string) int
	IntSlice(name string) []int
}

// Simulation is a running simulator.
type Simulation struct {
	// Banner says what runs where ("… simulator at http://… (30 requests/min per key)").
	Banner   string
	Accounts []SimAccount
	// Listen is the address a webhook receiver is expected on (the
	// config's listen:), if the simulation sends webhooks.
	Listen string
	Close  func()
}

// SimAccount is one of a simulation's accounts, ready for a config.
type SimAccount struct {
	Name   string
	KeyEnv string // the variable the config reads its key from
	Key    string // a simulator's key: printing it is the point
	// Line describes it for people, key included.
	Line    string
	BaseURL string
	// Currency is the ISO 4217 code of the account's money.
	Currency string
	// Options are its source's account keys for a config that uses it.
	Options map[string]any
	// Env are more variables its config reads (a webhook secret), for the
	// environment file, never printed.
	Env map[string]string
}

// Sub is an embedded folder as a file system of its own (for a Source's
// Model and Queries).
func Sub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // a constant folder name: caught by the tests
	}
	return sub
}
