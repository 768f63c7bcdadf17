#!/usr/bin/env bash
# make demo: start the MGR simulator, export both demo shops from it into
# demo/warehouse.duckdb and demo/parquet, print what was loaded and one
# analytics query, then stop the simulator. The simulator and the config are
# set to 6000 requests/min (the real API allows 30) so the demo takes seconds
# rather than the hours a real first export of these shops would.
set -euo pipefail
bin=${1:-bin/export}
dir=demo
rm -rf "$dir"
mkdir -p "$dir"

"$bin" simulate --rate 6000 --tickets 700,500 --write-config "$dir/export.yaml" --env-file "$dir/keys.env" >"$dir/simulator.log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null || true; wait $sim 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
	[ -f "$dir/export.yaml" ] && [ -f "$dir/keys.env" ] && break
	kill -0 $sim 2>/dev/null || { cat "$dir/simulator.log"; exit 1; }
	sleep 0.1
done
[ -f "$dir/export.yaml" ] || { echo "simulator did not start"; cat "$dir/simulator.log"; exit 1; }
# Only the URL: the demo prints no key, not even the simulator's.
sed -n '1p' "$dir/simulator.log"

# The keys go to the environment, never to the config or the output.
set -a; . "$dir/keys.env"; set +a
# Rate-budget ledgers (per API key, shared by every process) stay in the demo folder.
export EXPORT_STATE_DIR="$dir/state"

echo
echo "== export run --config $dir/export.yaml"
start=$(date +%s.%N)
"$bin" run --config "$dir/export.yaml" 2>"$dir/run.log"
end=$(date +%s.%N)
echo "(log in $dir/run.log; $(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}') s)"

echo
echo "== rows loaded per table (every MGR resource; lines and payments are child tables)"
"$bin" query --config "$dir/export.yaml" --sql "SELECT table_name, sum(rows_inserted) FILTER (WHERE account = 'north') AS north, sum(rows_inserted) FILTER (WHERE account = 'south') AS south FROM meta.run_tables GROUP BY ALL ORDER BY table_name"

echo
echo "== requests spent (one per list page of 50, pages overlapping by 2, plus one per invoice/PO detail)"
"$bin" query --config "$dir/export.yaml" --sql "SELECT account, requests, (SELECT count(*) FROM meta.details d WHERE d.account = a.account) AS documents FROM meta.run_accounts a ORDER BY account"

echo
echo "== invoices: totals equal lines + tax, to the cent"
"$bin" query --config "$dir/export.yaml" --sql "SELECT i.account, count(*) AS invoices, sum(i.amount_total) AS total, sum(i.amount_paid) AS paid, sum(i.amount_due) AS due, count(*) FILTER (WHERE i.amount_subtotal <> (SELECT sum(l.total) FROM mgr.ticket_invoice_lines l WHERE l.account = i.account AND l.ticket_invoice_id = i.id)) AS mismatched FROM mgr.ticket_invoices i GROUP BY ALL ORDER BY account"

echo
echo "== export query tickets_by_status_month (newest 15 rows)"
"$bin" query --config "$dir/export.yaml" --limit 15 tickets_by_status_month

echo
echo "== Parquet files"
find "$dir/parquet" -name '*.parquet' | wc -l | xargs echo "files:"
"$bin" query --config "$dir/export.yaml" --sql "SELECT account, count(*) AS rows FROM read_parquet('$dir/parquet/mgr/tickets/**/*.parquet', hive_partitioning = true) GROUP BY ALL ORDER BY account"

echo
echo "== export plan (what the next run needs; spends no requests)"
"$bin" plan --config "$dir/export.yaml"

echo
echo "== export status"
"$bin" status --config "$dir/export.yaml" --limit 5

echo
echo "== export rebuild (from the raw archive in $dir/raw: no network, no rate budget)"
"$bin" rebuild --config "$dir/export.yaml" 2>"$dir/rebuild.log"
