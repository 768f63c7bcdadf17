package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/repairshop/export/extract/repairops/repairopstest"
)

// receiveRun is `repairshop-export listen` under signed deliveries from
// many senders at once, against the disk's own fsync rate.
type receiveRun struct {
	Senders      int     `json:"senders"`
	Seconds      float64 `json:"seconds"`
	Acknowledged int     `json:"acknowledged"`
	Refused      int     `json:"refused"` // answers other than 200 (the sender would retry)
	Lost         int     `json:"lost"`    // acknowledged, yet not in the event log
	PerSec       float64 `json:"events_per_second"`
	MedianMs     float64 `json:"median_ms"`
	P99Ms        float64 `json:"p99_ms"`
	PeakRSS      int64   `json:"peak_rss_bytes"`
	FsyncsPerSec float64 `json:"fsyncs_per_second"` // one writer, write + fsync of a line, same folder
	Ratio        float64 `json:"events_over_fsyncs"`
}

// receive runs the receiver for d with senders posting at once.
func (b *bench) receive(senders int, d time.Duration) (receiveRun, error) {
	r := receiveRun{Senders: senders}
	dir, err := os.MkdirTemp("", "bench-listen-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	if r.FsyncsPerSec, err = fsyncRate(dir, 2*time.Second); err != nil {
		return r, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	addr := ln.Addr().String()
	ln.Close()
	const secret = "whsec_bench"
	cfg := filepath.Join(dir, "export.yaml")
	os.WriteFile(cfg, []byte(`warehouse: ./w.duckdb
parquet: ./pq
raw: ./raw
state_dir: ./state
accounts:
  - name: metro
    source: repairops
    api_key_env: BENCH_UNUSED_KEY
    webhook: {path: /hooks/metro, secret_env: BENCH_WEBHOOK_SECRET}
`), 0o644)
	listen, wait, err := startChild(b.bin, []string{"BENCH_WEBHOOK_SECRET=" + secret, "BENCH_UNUSED_KEY=unused"}, "listen", "--config", cfg, "--addr", addr)
	if err != nil {
		return r, err
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			listen.Process.Kill()
			_, out, _ := wait()
			return r, fmt.Errorf("listen did not start:\n%s", out)
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders, MaxConnsPerHost: senders}, Timeout: 30 * time.Second}
	var (
		mu      sync.Mutex
		acked   = map[string]bool{}
		latency []time.Duration
	)
	stop := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				id := fmt.Sprintf("bench-%02d-%07d", s, i)
				body := fmt.Sprintf(`{"event_id":%q,"event":"ticket.updated","timestamp":"2026-03-06T09:00:00Z","data":{"ticket_id":"t-%d","changes":["notes"]}}`, id, i)
				req, _ := http.NewRequest("POST", "http://"+addr+"/hooks/metro", bytes.NewBufferString(body))
				req.Header.Set(repairopstest.SignatureHeader, repairopstest.Sign(secret, []byte(body)))
				t0 := time.Now()
				resp, err := client.Do(req)
				took := time.Since(t0)
				ok := err == nil && resp.StatusCode == http.StatusOK
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				mu.Lock()
				if ok {
					acked["event:"+id] = true
					latency = append(latency, took)
				} else {
					r.Refused++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.Seconds = time.Since(start).Seconds()
	listen.Process.Signal(syscall.SIGTERM)
	rss, out, err := wait()
	if err != nil {
		return r, fmt.Errorf("listen: %w\n%s", err, out)
	}
	r.PeakRSS = rss
	r.Acknowledged = len(acked)
	r.PerSec = float64(r.Acknowledged) / r.Seconds
	r.Ratio = r.PerSec / r.FsyncsPerSec
	slices.Sort(latency)
	if n := len(latency); n > 0 {
		r.MedianMs = float64(latency[n/2].Microseconds()) / 1000
		r.P99Ms = float64(latency[n*99/100].Microseconds()) / 1000
	}
	// The event log, read back on its own: every acknowledged event is in it.
	logged := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(dir, "raw", "webhooks", "repairops", "metro.events*.jsonl"))
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return r, err
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var ev struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				logged[ev.ID] = true
			}
		}
		fh.Close()
	}
	for id := range acked {
		if !logged[id] {
			r.Lost++
		}
	}
	return r, nil
}

// fsyncRate is how many line-sized writes a second one writer makes
// durable, each with its own fsync, in dir: the disk's own pace, which a
// receiver that fsyncs every delivery alone would not pass.
func fsyncRate(dir string, d time.Duration) (float64, error) {
	f, err := os.Create(filepath.Join(dir, "fsync-reference"))
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	line := bytes.Repeat([]byte("x"), 200)
	n, start := 0, time.Now()
	for time.Since(start) < d {
		if _, err := f.Write(line); err != nil {
			return 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, err
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// startChild starts the export binary through the launcher (see child)
// and returns it with a wait that gives its peak RSS and output; a signal
// to it reaches the export.
func startChild(bin string, env []string, args ...string) (*exec.Cmd, func() (int64, string, error), error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	rssR, rssW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(self, append([]string{launchFlag, bin}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var outb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outb, &outb
	cmd.ExtraFiles = []*os.File{rssW}
	if err := cmd.Start(); err != nil {
		rssR.Close()
		rssW.Close()
		return nil, nil, err
	}
	rssW.Close()
	return cmd, func() (int64, string, error) {
		defer rssR.Close()
		err := cmd.Wait()
		var rss int64
		fmt.Fscan(rssR, &rss)
		return rss, outb.String(), err
	}, nil
}
