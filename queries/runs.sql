-- The last 20 runs: status, requests spent and rows changed.
SELECT run_id, started_at, finished_at, status, requests,
       rows_inserted, rows_updated, rows_unchanged, rows_rejected, error
FROM meta.runs
ORDER BY started_at DESC
LIMIT 20;
