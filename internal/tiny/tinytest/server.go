// Package tinytest simulates the Tiny Repairs API (package tiny) for
// tests: jobs newest first, paged by offset, 120 requests a minute per key
// (429 past that), a Bearer key, behind a wiretest.Wire.
package tinytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/wiretest"
	"github.com/repairshop/export/internal/tiny"
)

// Job is one job as the API serves it.
type Job struct {
	ID        string `json:"id"`
	Title     string `json:"title"`
	Status    string `json:"status"`
	Total     string `json:"total"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

// Account is one shop on the API.
type Account struct {
	Name, Key string
	jobs      []*Job // newest first
}

// Fault makes the next requests (after Delay of them) fail.
type Fault struct {
	Delay                                  int
	Unauthorized, RateLimited, ServerError int
}

// Server is a running simulator.
type Server struct {
	URL      string
	Wire     *wiretest.Wire
	Accounts []*Account

	clock budget.Clock
	http  *httptest.Server
	mu    sync.Mutex
	seen  map[string][]time.Time // requests in the last minute, by key
	f     Fault
	n     int            // requests served
	limit map[string]int // 429s sent, by account
	next  int
}

// NewServer serves two accounts with jobs jobs each, in clk's time (nil:
// real time).
func NewServer(clk budget.Clock, jobs int) *Server {
	return NewServerOf(clk, jobs, "harbor", "hill")
}

// NewServerOf serves the named accounts with jobs jobs each.
func NewServerOf(clk budget.Clock, jobs int, names ...string) *Server {
	if clk == nil {
		clk = budget.Real{}
	}
	s := &Server{clock: clk, seen: map[string][]time.Time{}, limit: map[string]int{}}
	for _, name := range names {
		a := &Account{Name: name, Key: "tiny-key-" + name}
		for i := 0; i < jobs; i++ {
			s.add(a, clk.Now().Add(-time.Duration(jobs-i)*7*time.Hour))
		}
		s.Accounts = append(s.Accounts, a)
	}
	s.Wire = wiretest.New(http.HandlerFunc(s.serve), clk)
	s.http = httptest.NewServer(s.Wire)
	s.URL = s.http.URL + "/v1"
	return s
}

// Close stops the server.
func (s *Server) Close() { s.http.Close() }

// add opens a job at the head of the account's list.
func (s *Server) add(a *Account, at time.Time) *Job {
	s.next++
	statuses := []string{"open", "waiting", "done", "done", "cancelled"}
	j := &Job{ID: fmt.Sprintf("J%05d", s.next), Title: fmt.Sprintf("Screen %d", s.next%7), Status: statuses[s.next%len(statuses)],
		Total: fmt.Sprintf("%d.%02d", 20+s.next%90, s.next%100), CreatedAt: at.UTC().Format(time.RFC3339), UpdatedAt: at.UTC().Format(time.RFC3339)}
	a.jobs = append([]*Job{j}, a.jobs...)
	return j
}

// Account finds an account.
func (s *Server) Account(name string) *Account {
	for _, a := range s.Accounts {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// JobIDs are the account's job ids, newest first.
func (s *Server) JobIDs(account string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, j := range s.Account(account).jobs {
		out = append(out, j.ID)
	}
	return out
}

// Add opens n jobs; Delete removes one; Change moves one to done.
func (s *Server) Add(account string, n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for i := 0; i < n; i++ {
		ids = append(ids, s.add(s.Account(account), s.clock.Now()).ID)
	}
	return ids
}

func (s *Server) Delete(account, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.Account(account)
	for i, j := range a.jobs {
		if j.ID == id {
			a.jobs = append(a.jobs[:i:i], a.jobs[i+1:]...)
			return
		}
	}
}

func (s *Server) Change(account, id, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.Account(account).jobs {
		if j.ID == id {
			j.Status, j.UpdatedAt = status, s.clock.Now().UTC().Format(time.RFC3339)
		}
	}
}

// Inject adds faults.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.f.Delay += f.Delay
	s.f.Unauthorized += f.Unauthorized
	s.f.RateLimited += f.RateLimited
	s.f.ServerError += f.ServerError
}

// RateLimited counts the 429s an account was sent.
func (s *Server) RateLimited(account string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limit[account]
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var a *Account
	for _, x := range s.Accounts {
		if r.Header.Get("Authorization") == "Bearer "+x.Key {
			a = x
		}
	}
	if a == nil {
		writeError(w, http.StatusUnauthorized, "invalid key")
		return
	}
	now := s.clock.Now()
	keep := s.seen[a.Key][:0]
	for _, t := range s.seen[a.Key] {
		if now.Sub(t) < time.Minute {
			keep = append(keep, t)
		}
	}
	s.seen[a.Key] = append(keep, now)
	s.n++
	if len(s.seen[a.Key]) > tiny.DefaultPerMinute {
		s.limit[a.Name]++
		writeError(w, http.StatusTooManyRequests, "rate limit: 120 requests a minute")
		return
	}
	if s.f.Delay > 0 {
		s.f.Delay--
	} else {
		switch {
		case s.f.Unauthorized > 0:
			s.f.Unauthorized--
			writeError(w, http.StatusUnauthorized, "invalid key")
			return
		case s.f.RateLimited > 0:
			s.f.RateLimited--
			s.limit[a.Name]++
			writeError(w, http.StatusTooManyRequests, "rate limit: 120 requests a minute")
			return
		case s.f.ServerError > 0:
			s.f.ServerError--
			writeError(w, http.StatusInternalServerError, "internal error")
			return
		}
	}
	if r.URL.Path != "/v1/jobs" {
		writeError(w, http.StatusNotFound, "no such endpoint")
		return
	}
	q := r.URL.Query()
	offset, _ := strconv.Atoi(q.Get("offset"))
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit < 1 || limit > tiny.PageSize {
		limit = tiny.PageSize
	}
	page := a.jobs[min(max(offset, 0), len(a.jobs)):min(max(offset, 0)+limit, len(a.jobs))]
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"jobs": page, "has_more": offset+limit < len(a.jobs)})
}

// Counts says how many jobs the account has, by status, as a check of
// what a warehouse holds.
func (s *Server) Counts(account string) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, j := range s.Account(account).jobs {
		out[strings.ToLower(j.Status)]++
	}
	return out
}
