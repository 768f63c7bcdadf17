#!/usr/bin/env bash
# make demo: start both simulators (My Gadget Repairs and RepairOps), export
# the two MGR shops and the two RepairOps organisations into
# demo/warehouse.duckdb and demo/parquet, print what was loaded and one
# analytics query, run again to show what an incremental night costs, then
# stop the simulators. The RepairOps simulator posts its organisations'
# payments as webhooks to `repairshop-export listen` (payments have no endpoint), which
# the run loads with the polled data. The simulators and the config are set
# far above the real limits (MGR 6000 requests/min instead of 30, RepairOps
# 1,000,000 an hour instead of 1,000) so the demo takes seconds rather than
# the hours a real first export of these shops would.
set -euo pipefail
bin=${1:-bin/repairshop-export}
dir=demo
rm -rf "$dir"
mkdir -p "$dir"

"$bin" simulate --rate 6000 --tickets 700,500 --repairops-rate 1000000 --repairops-tickets 600,250 --repairops-webhooks 127.0.0.1:0 --write-config "$dir/export.yaml" --env-file "$dir/keys.env" >"$dir/simulator.log" 2>&1 &
sim=$!
listener=
trap 'kill $sim $listener 2>/dev/null || true; wait $sim $listener 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
	[ -f "$dir/export.yaml" ] && [ -f "$dir/keys.env" ] && break
	kill -0 $sim 2>/dev/null || { cat "$dir/simulator.log"; exit 1; }
	sleep 0.1
done
[ -f "$dir/export.yaml" ] || { echo "simulator did not start"; cat "$dir/simulator.log"; exit 1; }
# Only the URLs: the demo prints no key, not even the simulator's.
grep simulator "$dir/simulator.log"
# Every run also publishes to a local Apache Iceberg lake: a SQLite
# catalog and a folder (docs/lake.md; many hosts use Postgres and S3).
cat >>"$dir/export.yaml" <<'EOF_LAKE'
lake:
  catalog: sqlite://lake.db
  warehouse: ./lake
EOF_LAKE

# The keys go to the environment, never to the config or the output.
set -a; . "$dir/keys.env"; set +a
# Rate-budget ledgers (per API key, shared by every process) stay in the demo folder.
export EXPORT_STATE_DIR="$dir/state"

echo
echo "== repairshop-export listen --config $dir/export.yaml (the webhook receiver, at the config's listen: address)"
"$bin" listen --config "$dir/export.yaml" 2>"$dir/listen.log" &
listener=$!
# The simulator delivers once the receiver answers; wait until the event
# logs stop growing.
events=0
for _ in $(seq 1 60); do
	sleep 0.5
	kill -0 $listener 2>/dev/null || { cat "$dir/listen.log"; exit 1; }
	now=$(cat "$dir"/raw/webhooks/repairops/*.events*.jsonl 2>/dev/null | wc -l)
	[ "$now" -gt 0 ] && [ "$now" -eq "$events" ] && break
	events=$now
done
echo "$events payment event(s) received and stored (log: $dir/listen.log)"

echo
echo "== repairshop-export check --config $dir/export.yaml (one request per key)"
"$bin" check --config "$dir/export.yaml" 2>"$dir/check.log"

echo
echo "== repairshop-export run --config $dir/export.yaml --metrics-file $dir/export.prom --summary-json $dir/summary.json"
start=$(date +%s.%N)
"$bin" run --config "$dir/export.yaml" --metrics-file "$dir/export.prom" --summary-json "$dir/summary.json" 2>"$dir/run.log"
end=$(date +%s.%N)
echo "(log in $dir/run.log; $(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}') s)"

echo
echo "== rows loaded per table (every MGR resource; lines and payments are child tables)"
"$bin" query --config "$dir/export.yaml" --sql "SELECT table_name, sum(rows_inserted) FILTER (WHERE account = 'north') AS north, sum(rows_inserted) FILTER (WHERE account = 'south') AS south FROM meta.run_tables WHERE table_name LIKE 'mgr.%' GROUP BY ALL ORDER BY table_name"

echo
echo "== RepairOps rows loaded per table (ticket details give timeline, parts, labor, diagnostics; customer details their repairs)"
"$bin" query --config "$dir/export.yaml" --sql "SELECT table_name, sum(rows_inserted) FILTER (WHERE account = 'metro') AS metro, sum(rows_inserted) FILTER (WHERE account = 'coast') AS coast FROM meta.run_tables WHERE table_name LIKE 'repairops.%' GROUP BY ALL ORDER BY table_name"

echo
echo "== requests spent (MGR: a list page of 50, pages overlapping by 2, plus one per invoice/PO detail;"
echo "   RepairOps: a list page of 500, one per KPI month and shop, one per ticket and customer detail)"
"$bin" query --config "$dir/export.yaml" --sql "SELECT account, source, requests, (SELECT count(*) FROM meta.details d WHERE d.account = a.account) AS details FROM meta.run_accounts a ORDER BY source, account"

echo
echo "== RepairOps: ticket money adds up (labor + parts = total, to the cent) and KPI revenue per shop"
"$bin" query --config "$dir/export.yaml" --sql "SELECT account, count(*) AS tickets, sum(total_cost) AS total, count(*) FILTER (WHERE total_cost <> coalesce(labor_cost, 0) + coalesce(parts_cost, 0)) AS mismatched, (SELECT sum(revenue) FROM repairops.kpi_daily k WHERE k.account = t.account) AS kpi_revenue, (SELECT sum(total_cost) FROM repairops.tickets c WHERE c.account = t.account AND c.status = 'CLOSED') AS closed_total FROM repairops.tickets t GROUP BY ALL ORDER BY account"

echo
echo "== RepairOps payments (only webhooks carry them) and what is still due, per organisation"
"$bin" query --config "$dir/export.yaml" --sql "SELECT account, count(*) AS invoices, sum(total) AS total, sum(paid) AS paid, sum(due) AS due, count(*) FILTER (WHERE due > 0) AS unpaid, (SELECT count(*) FROM repairops.payments p WHERE p.account = i.account) AS payments FROM main.invoices i WHERE source = 'repairops' GROUP BY ALL ORDER BY account"

echo
echo "== invoices: totals equal lines + tax, to the cent"
"$bin" query --config "$dir/export.yaml" --sql "SELECT i.account, count(*) AS invoices, sum(i.amount_total) AS total, sum(i.amount_paid) AS paid, sum(i.amount_due) AS due, count(*) FILTER (WHERE i.amount_subtotal <> (SELECT sum(l.total) FROM mgr.ticket_invoice_lines l WHERE l.account = i.account AND l.ticket_invoice_id = i.id)) AS mismatched FROM mgr.ticket_invoices i GROUP BY ALL ORDER BY account"

echo
echo "== repairshop-export query tickets_by_status_month (newest 15 rows)"
"$bin" query --config "$dir/export.yaml" --limit 15 tickets_by_status_month

echo
echo "== repairshop-export query sales_by_month (newest 8 rows), receivables, invoice_checks (empty: the books add up)"
"$bin" query --config "$dir/export.yaml" --limit 8 sales_by_month
"$bin" query --config "$dir/export.yaml" receivables
"$bin" query --config "$dir/export.yaml" invoice_checks

echo
echo "== repairshop-export query repairops_turnaround (newest 8 rows: from the timelines; the KPIs agree)"
"$bin" query --config "$dir/export.yaml" --limit 8 repairops_turnaround

echo
echo "== both vendors in one model (main.*, days in each shop's time zone): repairshop-export query turnaround, average_ticket_value, backlog"
"$bin" query --config "$dir/export.yaml" --limit 8 turnaround
"$bin" query --config "$dir/export.yaml" --limit 8 average_ticket_value
"$bin" query --config "$dir/export.yaml" backlog

echo
echo "== Parquet files"
find "$dir/parquet" -name '*.parquet' | wc -l | xargs echo "files:"
"$bin" query --config "$dir/export.yaml" --sql "SELECT account, count(*) AS rows FROM read_parquet('$dir/parquet/mgr/tickets/**/*.parquet', hive_partitioning = true) GROUP BY ALL ORDER BY account"

echo
echo "== repairshop-export plan (what the next run needs; spends no requests)"
"$bin" plan --config "$dir/export.yaml"

echo
echo "== repairshop-export run again: an incremental night with nothing changed (RepairOps reads tickets down to the"
echo "   watermark less 2 days, new customers, inventory and the last 7 days of KPIs; MGR re-lists)"
"$bin" run --config "$dir/export.yaml" 2>"$dir/run2.log" | grep '^account'

echo
echo "== repairshop-export lake status (the Iceberg lake both runs published to: $dir/lake.db, $dir/lake)"
"$bin" lake status --config "$dir/export.yaml"

echo
echo "== repairshop-export status"
"$bin" status --config "$dir/export.yaml" --limit 5

echo
echo "== repairshop-export rebuild (from the raw archive in $dir/raw: no network, no rate budget)"
"$bin" rebuild --config "$dir/export.yaml" 2>"$dir/rebuild.log"

echo
echo "== repairshop-export report (the owner's KPIs as one HTML file that opens offline)"
# As of the last day of the simulators' seeded history (mgrtest and
# repairopstest's dataEnd), so that the headline tiles compare two months
# that hold data.
"$bin" report --config "$dir/export.yaml" --out "$dir/report.html" --to 2026-11-15 2>"$dir/report.log"
echo "metrics for Prometheus: $dir/export.prom ($(grep -c '^export_' "$dir/export.prom") samples); run summary: $dir/summary.json"
