// Package tiny is a third source that exists only for tests: a small
// in-memory job-tracking API ("Tiny Repairs", simulated by tinytest) with
// one list resource, jobs. It is shaped like every source (a Source value,
// its tables, its client on extract/rest and extract/paging, its model
// fragments and a query of its own) so that the engine's tests run on a
// source they do not know, and prove that adding one is one folder plus a
// line in the list: tests register it with Register.
//
// The API: GET /v1/jobs?offset=&limit= answers {"jobs": [...], "has_more":
// bool}, newest first, up to 100 a page; the key goes in a Bearer
// Authorization header; it allows 120 requests a minute and answers 429
// past that; errors are {"error": "..."}.
package tiny

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/paging"
	"github.com/repairshop/export/extract/rest"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/schema"
)

// Name is the source's config name and warehouse schema.
const Name = "tiny"

// Limits of the API.
const (
	DefaultPerMinute = 120
	PageSize         = 100
)

// JobsTable is tiny.jobs.
var JobsTable = schema.New(schema.Table{
	Source:   Name,
	Name:     "jobs",
	History:  true,
	Resource: "jobs",
	Doc:      "Repair jobs.",
	Key:      []string{"id"},
	Columns: []schema.Column{
		schema.Req(schema.Col(schema.String, "id")),
		schema.Col(schema.String, "title"),
		schema.Col(schema.String, "status"),
		schema.Col(schema.Money, "total"),
		schema.Req(schema.Col(schema.Timestamp, "created_at")),
		schema.Col(schema.Timestamp, "updated_at"),
	},
	PartitionBy: "created_at",
})

var resources = []extract.Resource{{Name: "jobs", Table: JobsTable}}

var (
	//go:embed model/*.sql
	modelFiles embed.FS
	//go:embed queries/*.sql
	queryFiles embed.FS
)

// Source is Tiny Repairs, as the driver runs it.
var Source = extract.Source{
	Name: Name, Title: "Tiny Repairs", Short: "Tiny",
	Limits:    "120 requests a minute (requests_per_minute, default 120)",
	Tables:    []*schema.Table{JobsTable},
	Resources: resources,
	Options:   func() extract.Options { return &Options{} },
	Pace: func(a extract.Account) extract.Pace {
		n := float64(perMinute(a)) * budget.DefaultHeadroom
		return extract.Pace{PerMinute: n, Label: fmt.Sprintf("%.0f/min", n)}
	},
	Open:     open,
	Decode:   decode,
	PlanList: planList,
	Model:    extract.Sub(modelFiles, "model"),
	Queries:  extract.Sub(queryFiles, "queries"),
}

// Register adds the source to the list for the tests of a package (call
// it from TestMain, before any test runs).
func Register() {
	for _, s := range sources.All {
		if s.Name == Name {
			return
		}
	}
	sources.All = append(sources.All, &Source)
}

// Options are a Tiny account's own keys.
type Options struct {
	RequestsPerMinute       *float64 `yaml:"requests_per_minute,omitempty"`
	OverrideDocumentedLimit bool     `yaml:"override_documented_limit,omitempty"`
}

// Check refuses a rate past the documented limit.
func (o *Options) Check() []error {
	if o.RequestsPerMinute != nil {
		if err := extract.CheckRate("requests_per_minute", *o.RequestsPerMinute, DefaultPerMinute, "a minute", "Tiny's", "it answers 429", o.OverrideDocumentedLimit); err != nil {
			return []error{err}
		}
	}
	return nil
}

func perMinute(a extract.Account) int {
	if o, ok := a.Options.(*Options); ok && o != nil && o.RequestsPerMinute != nil {
		return int(*o.RequestsPerMinute)
	}
	return DefaultPerMinute
}

// Errors of the API.
var (
	ErrAuth      = errors.New("tiny: key refused")
	ErrRateLimit = errors.New("tiny: rate limited")
)

// apiError is an answer that is not a success.
type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message) }

func open(env extract.Env) (extract.Session, error) {
	a := env.Account
	defaults := rest.Settings{BaseURL: "https://api.tiny.invalid/v1", Limit: perMinute(a), Per: time.Minute, Cooldown: time.Minute,
		Retries: 3, Backoff: time.Second, Timeout: 30 * time.Second}
	opts := []rest.Option{rest.WithClock(env.Clock), rest.WithLogger(env.Log), rest.WithLedger(env.Ledger), rest.WithRunBudget(env.MaxRequests, env.Deadline), rest.WithHook(env.Hook)}
	if a.BaseURL != "" {
		opts = append(opts, rest.WithBaseURL(a.BaseURL))
	}
	if env.Key == "" {
		return nil, fmt.Errorf("%w: empty key", ErrAuth)
	}
	s := &session{env: env}
	rules := rest.Rules{
		Name:      Name,
		Authorize: func(h http.Header) { h.Set("Authorization", "Bearer "+env.Key) },
		Check: func(resp *http.Response, body []byte, shown string) error {
			if resp.StatusCode == http.StatusOK {
				if why, final := rest.Garbled(body); why != "" {
					if final != nil {
						return fmt.Errorf("%w: %s", final, why)
					}
					return &apiError{Status: resp.StatusCode, Message: why}
				}
				return nil
			}
			var e struct{ Error string }
			json.Unmarshal(body, &e)
			return &apiError{Status: resp.StatusCode, Message: e.Error}
		},
		Retry: func(ctx context.Context, err error, try *rest.Try) rest.Decision {
			var ae *apiError
			switch {
			case errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests:
				s.c.Bucket().CoolDown(time.Minute)
				return rest.Decision{Err: fmt.Errorf("%w: %w", ErrRateLimit, err)}
			case errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden):
				return rest.Decision{Err: fmt.Errorf("%w: %w", ErrAuth, err)}
			case errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500:
				return rest.Decision{Err: err}
			case errors.Is(err, rest.ErrRunBudget) || ctx.Err() != nil:
				return rest.Decision{Err: err}
			}
			if errors.Is(err, rest.ErrTooDeep) || errors.Is(err, rest.ErrBodyTooLarge) {
				return rest.Decision{Err: err} // asking again cannot help
			}
			return rest.Decision{} // transient: retried
		},
	}
	c, err := rest.New(env.Key, defaults, opts, rules, func(s rest.Settings) (int, time.Duration, float64) { return s.Limit, s.Per, s.Headroom })
	if err != nil {
		return nil, err
	}
	s.c = c
	return s, nil
}

type session struct {
	env extract.Env
	c   *rest.Client
}

// cursor is the jobs listing's position.
type cursor struct {
	Pass  string `json:"pass"` // in_progress | complete
	Next  int    `json:"next_offset,omitempty"`
	RunID string `json:"run_id"`
}

func (c cursor) String() string { b, _ := json.Marshal(c); return string(b) }

func (s *session) Tasks(ctx context.Context, st extract.Stored) ([]extract.Task, error) {
	var cur cursor
	start := 0
	if json.Unmarshal([]byte(st.Cursor("jobs")), &cur) == nil && cur.Pass == "in_progress" {
		start = max(cur.Next-PageSize, 0)
	}
	return []extract.Task{{Name: "listing jobs", Resource: "jobs", Run: func(ctx context.Context, emit extract.Emitter) error {
		return s.walk(start).Run(ctx, func(p extract.Page) error {
			next := cursor{Pass: "in_progress", Next: p.Next, RunID: s.env.RunID}
			if p.Last {
				next = cursor{Pass: "complete", RunID: s.env.RunID}
			}
			e := p.ListEntry()
			e.Complete = p.Last && start == 0
			return emit.Emit(ctx, extract.Response{Entry: e, Cursor: next.String(), Next: p.Next})
		})
	}}}, nil
}

func (s *session) walk(start int) paging.Walk {
	return paging.Walk{API: Name, Resource: "jobs", Start: start, PageSize: PageSize, Log: s.env.Log, Now: s.env.Clock.Now,
		Fetch: func(ctx context.Context, offset int) (paging.Answer, error) {
			params := map[string][]string{"offset": {strconv.Itoa(offset)}, "limit": {strconv.Itoa(PageSize)}}
			body, err := s.c.Get(ctx, "jobs", params)
			if err != nil {
				return paging.Answer{}, err
			}
			var page struct {
				Jobs    []json.RawMessage `json:"jobs"`
				HasMore bool              `json:"has_more"`
			}
			if err := json.Unmarshal(body, &page); err != nil {
				return paging.Answer{}, fmt.Errorf("not a page of jobs: %w", err)
			}
			return paging.Answer{Params: params, Body: body, Items: page.Jobs, Total: -1, Next: offset + len(page.Jobs), More: page.HasMore}, nil
		}}
}

func (s *session) Detail(context.Context, string, string) (extract.Page, error) {
	return extract.Page{}, errors.New("tiny: no detail endpoint")
}

func (s *session) Verdict(err error) extract.Verdict {
	switch {
	case errors.Is(err, ErrRateLimit) || errors.Is(err, rest.ErrRunBudget):
		return extract.Partial
	case errors.Is(err, ErrAuth):
		return extract.Stop
	}
	return extract.Skip
}

func (s *session) Probe(context.Context, extract.Resource) (int64, int64, error) {
	return 0, 0, extract.ErrNoProbe
}

func (s *session) Check(ctx context.Context) (string, error) {
	if _, err := s.c.Get(ctx, "jobs", map[string][]string{"limit": {"1"}}); err != nil {
		return "", err
	}
	return "the key reads jobs", nil
}

func (s *session) Requests() int64         { return s.c.Requests() }
func (s *session) CoolingUntil() time.Time { return s.c.CoolingUntil() }
func (s *session) Gaps() string            { return "" }

// decode reads an archived page: its jobs (less those dropped as repeats).
func decode(e archive.Entry) (extract.Decoded, error) {
	if e.Resource != "jobs" {
		return extract.Decoded{}, nil
	}
	var page struct {
		Jobs []json.RawMessage `json:"jobs"`
	}
	if err := json.Unmarshal(e.Body, &page); err != nil {
		return extract.Decoded{}, fmt.Errorf("tiny: jobs page: %w", err)
	}
	var kept []json.RawMessage
	for i, j := range page.Jobs {
		if !slices.Contains(e.Dropped, i) {
			kept = append(kept, j)
		}
	}
	recs, _ := json.Marshal(kept)
	return extract.Decoded{Table: JobsTable, Records: recs}, nil
}

// planList: a full listing every run, a page per PageSize jobs (at least
// one).
func planList(_ context.Context, _ extract.Account, _ extract.Resource, size int64, _ extract.Stored, _ time.Time) (int64, string, bool, error) {
	return max(1, (size+PageSize-1)/PageSize), "", false, nil
}
