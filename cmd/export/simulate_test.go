package export

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `repairshop-export simulate --repairops-webhooks` is make demo's way to show
// RepairOps payments: its config names the receiver's address and each
// organisation's webhook, its environment file holds the secrets (which
// it never prints), and once `repairshop-export listen` answers, the simulator posts
// the payments of closed tickets; `repairshop-export run` then loads every one. The
// books are checked against the event logs themselves: each event one
// payment, each payment on its ticket's invoice, every invoice's paid
// and due adding up to its total, some invoices still due.
func TestSimulateSendsWebhooksToListen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sim, simOut := startExport(t, nil, "simulate", "--rate", "100000", "--tickets", "30,20", "--repairops-rate", "1000000", "--repairops-tickets", "90,40",
		"--repairops-webhooks", "127.0.0.1:0", "--write-config", dir+"/export.yaml", "--env-file", dir+"/keys.env")
	defer func() { sim.Process.Kill(); sim.Wait() }()
	simOut.waitFor(t, "config written to")
	var env []string
	b, err := os.ReadFile(dir + "/keys.env")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		env = append(env, strings.TrimPrefix(line, "export "))
	}
	cfg := filepath.Join(dir, "export.yaml")
	if b, _ := os.ReadFile(cfg); !strings.Contains(string(b), "listen: 127.0.0.1:") || strings.Count(string(b), "secret_env: REPAIROPS_") != 2 {
		t.Fatalf("the config names no receiver or no webhook:\n%s", b)
	}
	var secrets []string
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); strings.HasSuffix(k, "_WEBHOOK_SECRET") {
			secrets = append(secrets, v)
		}
	}
	if len(secrets) != 2 {
		t.Fatalf("keys.env holds %d webhook secret(s), want one per organisation: %v", len(secrets), env)
	}
	setEnv(t, env)
	listen, listenOut := startExport(t, env, "listen", "--config", cfg)
	defer func() { listen.Process.Kill(); listen.Wait() }()
	// The receiver answers (or dies saying why) before anything else.
	listenOut.waitFor(t, "receiving webhooks")
	// The simulator says when every payment it made has been accepted.
	simOut.waitFor(t, "none pending")
	events := 0
	logs, _ := filepath.Glob(dir + "/raw/webhooks/repairops/*.events*.jsonl")
	for _, f := range logs {
		b, _ := os.ReadFile(f)
		events += strings.Count(string(b), "\n")
	}
	if events == 0 {
		t.Fatal("no webhook reached repairshop-export listen")
	}
	if code, out, stderr := runCLI(t, "run", "--config", cfg); code != exitOK {
		t.Fatalf("run: exit %d\n%s%s", code, out, stderr)
	}
	got := queryCSV(t, cfg, `SELECT (SELECT count(*) FROM repairops.payments) || '|' ||
		((SELECT sum(amount) FROM repairops.payments) = sum(paid)) || '|' ||
		count(*) FILTER (WHERE paid + due <> total) || '|' ||
		(count(*) FILTER (WHERE paid = 0) > 0) || '|' || (count(*) FILTER (WHERE paid > 0 AND due > 0) > 0)
		FROM main.invoices WHERE source = 'repairops'`)
	if want := fmt.Sprintf("%d|true|0|true|true", events); got != want {
		t.Errorf("payments|sum is paid|invoices not adding up|some unpaid|some part-paid = %s, want %s", got, want)
	}
	sim.Process.Kill()
	sim.Wait()
	for _, s := range secrets {
		if strings.Contains(simOut.String(), s) {
			t.Error("simulate printed a webhook secret")
		}
	}
}
