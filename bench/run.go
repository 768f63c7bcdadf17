package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// simulator is `repairshop-export simulate` in a child process.
type simulator struct {
	cmd      *exec.Cmd
	mgrURL   string
	roURL    string
	env      []string // the keys, NAME=value
	stopping bool
}

// startSimulator serves both simulators with the given flags and waits for
// their config and keys.
func startSimulator(bin, dir string, args ...string) (*simulator, error) {
	cfg, keys := filepath.Join(dir, "sim.yaml"), filepath.Join(dir, "keys.env")
	cmd := exec.Command(bin, append([]string{"simulate", "--write-config", cfg, "--env-file", keys}, args...)...)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &simulator{cmd: cmd}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(cfg); err == nil {
			break
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("the simulator did not start")
		}
	}
	data, _ := os.ReadFile(cfg)
	urls := regexp.MustCompile(`base_url: (\S+)`).FindAllStringSubmatch(string(data), -1)
	for _, u := range urls {
		switch {
		case s.mgrURL == "":
			s.mgrURL = u[1]
		case u[1] != s.mgrURL:
			s.roURL = u[1]
		}
	}
	f, err := os.Open(keys)
	if err != nil {
		s.stop()
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		s.env = append(s.env, strings.TrimPrefix(sc.Text(), "export "))
	}
	return s, nil
}

func (s *simulator) stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// runResult is one `repairshop-export run` of one account.
type runResult struct {
	Records    int     `json:"records"`
	Requests   int     `json:"requests"`
	Seconds    float64 `json:"seconds"`
	PeakRSS    int64   `json:"peak_rss_bytes"`
	RowsPerSec float64 `json:"rows_per_second,omitempty"`
	// AllowedPerSec is the rate the API allows; RateFloor the run's wall
	// time ÷ (requests ÷ that rate): 1.11 is pacing at 90 % of the limit.
	AllowedPerSec float64 `json:"allowed_per_second,omitempty"`
	RateFloor     float64 `json:"rate_floor_ratio,omitempty"`
	// MinRequests is the fewest requests that could fetch the records.
	MinRequests  int     `json:"min_requests,omitempty"`
	RequestRatio float64 `json:"requests_over_minimum,omitempty"`
	// ServedPerSec is the simulator's own serving rate of the same list
	// pages to a plain HTTP client, records a second; ServedRatio the
	// run's rows/s over it.
	ServedPerSec float64 `json:"simulator_records_per_second,omitempty"`
	ServedRatio  float64 `json:"run_over_simulator,omitempty"`
	// Outside is the run's wall time less the span its own log gives
	// from its start to the end of its extraction: the process's start,
	// the warehouse's opening, the last commit and the Parquet publish.
	// A rate floor's ratio holds it as well as the pacing.
	Outside float64 `json:"seconds_outside_extraction,omitempty"`
}

// servedRate fetches n tickets' list pages (limit 50, offsets as the run
// pages them, one after another) from the MGR simulator with a plain HTTP
// client and returns records a second: how fast the source could be read
// if loading cost nothing.
func servedRate(baseURL, key string, n int) (float64, error) {
	client := &http.Client{Timeout: time.Minute}
	start := time.Now()
	for off := 0; off < n; off += 50 {
		req, err := http.NewRequest("GET", fmt.Sprintf("%s/tickets?limit=50&offset=%d", baseURL, off), nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", key)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("GET tickets at offset %d: %d %v", off, resp.StatusCode, err)
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

var requestsLine = regexp.MustCompile(`account (\S+) \((\S+)\): ok, (\d+) requests?`)

// exportRun writes a one-account config and runs `repairshop-export run` on it.
func exportRun(bin, dir string, env []string, account string) (runResult, error) {
	var r runResult
	cfg := filepath.Join(dir, "export.yaml")
	if err := os.WriteFile(cfg, []byte("warehouse: ./w.duckdb\nparquet: ./pq\nstate_dir: ./state\naccounts:\n"+account), 0o644); err != nil {
		return r, err
	}
	took, rss, out, err := child(bin, env, "run", "--config", cfg)
	if err != nil {
		return r, err
	}
	r.Seconds, r.PeakRSS = took.Seconds(), rss
	m := requestsLine.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no requests in the run's summary:\n%s", out)
	}
	r.Requests, _ = strconv.Atoi(m[3])
	if span, ok := extractionSpan(out); ok {
		r.Outside = r.Seconds - span.Seconds()
	}
	return r, nil
}

// extractionSpan is the time from a run's "run started" log line to its
// last "extracted" or "details fetched" line (its last request's), read
// from its JSON log (the child's stderr is not a terminal, so it logs
// JSON lines).
func extractionSpan(out string) (time.Duration, bool) {
	var started, extracted time.Time
	for _, line := range strings.Split(out, "\n") {
		var l struct {
			Time time.Time `json:"time"`
			Msg  string    `json:"msg"`
		}
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		switch l.Msg {
		case "run started":
			if started.IsZero() {
				started = l.Time
			}
		case "extracted", "details fetched": // its lists, then its details
			extracted = l.Time
		}
	}
	if started.IsZero() || extracted.Before(started) {
		return 0, false
	}
	return extracted.Sub(started), true
}

func keyOf(env []string, name string) string {
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			return kv
		}
	}
	return ""
}
