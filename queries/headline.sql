-- Headline numbers, every source: four figures per shop (account) and for all shops (account empty), each with the same figure for the previous period, as of --to (default today), days in each shop's time zone. revenue: ticket invoice totals this month to date, against the same days of the previous month. open_backlog: tickets open or waiting on that day (opened by then, not closed by then), against those a month earlier; cancelled tickets are left out (when they were cancelled is not known). median_turnaround_days: the median days from opening to closing of the tickets closed this month to date, against the same days of the previous month. receivables_due: money still due on invoices, against what was due a month earlier (rebuilt from the payments recorded by then; RepairOps only for accounts that receive its payment webhooks). Money is per currency (the config's currency key; empty when not set); change is current minus previous, change_pct its percentage of previous (empty when previous is 0).
-- params: to, account
WITH p AS (
    SELECT d AS as_of, date_trunc('month', d)::DATE AS month_start,
           (d - INTERVAL 1 MONTH)::DATE AS previous_as_of, date_trunc('month', d - INTERVAL 1 MONTH)::DATE AS previous_start
    FROM (SELECT coalesce(getvariable('to'), current_date)::DATE AS d)
),
invoices AS (
    SELECT * FROM main.invoices
    WHERE getvariable('accounts') IS NULL OR list_contains(getvariable('accounts'), account)
),
tickets AS (
    SELECT * FROM main.tickets
    WHERE getvariable('accounts') IS NULL OR list_contains(getvariable('accounts'), account)
),
revenue AS (
    SELECT 1 AS k, 'revenue' AS metric, i.account, i.currency,
           coalesce(sum(i.total) FILTER (WHERE i.created_day BETWEEN p.month_start AND p.as_of), 0) AS current,
           coalesce(sum(i.total) FILTER (WHERE i.created_day BETWEEN p.previous_start AND p.previous_as_of), 0) AS previous
    FROM invoices i, p
    WHERE i.kind = 'ticket' AND i.total IS NOT NULL
    GROUP BY GROUPING SETS ((i.account, i.currency), (i.currency))
),
backlog AS (
    SELECT 2 AS k, 'open_backlog' AS metric, t.account, NULL AS currency,
           count(*) FILTER (WHERE t.created_day <= p.as_of AND (t.closed_day IS NULL OR t.closed_day > p.as_of)) AS current,
           count(*) FILTER (WHERE t.created_day <= p.previous_as_of AND (t.closed_day IS NULL OR t.closed_day > p.previous_as_of)) AS previous
    FROM tickets t, p
    WHERE t.status_group <> 'cancelled'
    GROUP BY GROUPING SETS ((t.account), ())
),
turnaround AS (
    SELECT 3 AS k, 'median_turnaround_days' AS metric, t.account, NULL AS currency,
           round(median(date_diff('second', t.created_at, t.closed_at)) FILTER (WHERE t.closed_day BETWEEN p.month_start AND p.as_of) / 86400, 2) AS current,
           round(median(date_diff('second', t.created_at, t.closed_at)) FILTER (WHERE t.closed_day BETWEEN p.previous_start AND p.previous_as_of) / 86400, 2) AS previous
    FROM tickets t, p
    WHERE t.closed_at IS NOT NULL
    GROUP BY GROUPING SETS ((t.account), ())
),
paid_then AS (
    SELECT pm.account, pm.invoice_id, pm.invoice_kind, sum(pm.amount) AS paid
    FROM main.payments pm, p
    WHERE pm.paid_day <= p.previous_as_of
    GROUP BY ALL
),
receivables AS (
    SELECT 4 AS k, 'receivables_due' AS metric, i.account, i.currency,
           coalesce(sum(i.due) FILTER (WHERE i.due > 0 AND i.created_day <= p.as_of), 0) AS current,
           coalesce(sum(greatest(i.total - coalesce(pt.paid, 0), 0)) FILTER (WHERE i.created_day <= p.previous_as_of), 0) AS previous
    FROM invoices i CROSS JOIN p
    LEFT JOIN paid_then pt ON pt.account = i.account AND pt.invoice_id = i.id AND pt.invoice_kind = i.kind
    WHERE i.due IS NOT NULL
    GROUP BY GROUPING SETS ((i.account, i.currency), (i.currency))
),
m AS (
    SELECT k, metric, account, currency, CAST(current AS DECIMAL(18,2)) AS current, CAST(previous AS DECIMAL(18,2)) AS previous FROM revenue
    UNION ALL SELECT k, metric, account, currency, CAST(current AS DECIMAL(18,2)), CAST(previous AS DECIMAL(18,2)) FROM backlog
    UNION ALL SELECT k, metric, account, currency, CAST(current AS DECIMAL(18,2)), CAST(previous AS DECIMAL(18,2)) FROM turnaround
    UNION ALL SELECT k, metric, account, currency, CAST(current AS DECIMAL(18,2)), CAST(previous AS DECIMAL(18,2)) FROM receivables
)
SELECT m.account, m.metric, m.currency, m.current, m.previous,
       CAST(m.current - m.previous AS DECIMAL(18,2)) AS change,
       CASE WHEN m.previous <> 0 THEN CAST(round(100 * (m.current - m.previous) / m.previous, 1) AS DECIMAL(9,1)) END AS change_pct,
       p.as_of, p.previous_as_of
FROM m, p
ORDER BY m.account NULLS FIRST, m.k, m.currency NULLS FIRST;
