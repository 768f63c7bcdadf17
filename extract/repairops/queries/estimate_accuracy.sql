-- Estimate accuracy (RepairOps: MGR tickets carry no estimate): closed tickets per shop and month of closing (in the shop's time zone), the diagnosis' estimated_cost against the final total: mean estimate and total, mean absolute error in percent of the total, and the share estimated within 10 %.
-- params: from, to, account
SELECT t.source, t.account, t.shop, strftime(t.closed_day, '%Y-%m') AS month,
       count(*) AS tickets,
       CAST(round(avg(d.estimated_cost), 2) AS DECIMAL(18,2)) AS mean_estimate,
       CAST(round(avg(t.total), 2) AS DECIMAL(18,2)) AS mean_total,
       round(avg(abs(t.total - d.estimated_cost) / t.total) * 100, 2) AS mean_abs_error_pct,
       round(count(*) FILTER (WHERE abs(t.total - d.estimated_cost) <= 0.1 * t.total) / count(*), 4) AS within_10pct
FROM main.tickets t
JOIN repairops.ticket_diagnostics d ON t.source = 'repairops' AND d.account = t.account AND d.ticket_id = t.id
WHERE t.status_group = 'done' AND d.estimated_cost IS NOT NULL AND t.total > 0
  AND (getvariable('from') IS NULL OR t.closed_day >= getvariable('from'))
  AND (getvariable('to') IS NULL OR t.closed_day <= getvariable('to'))
  AND (getvariable('accounts') IS NULL OR list_contains(getvariable('accounts'), t.account))
GROUP BY ALL
ORDER BY month DESC, t.source, t.account, t.shop;
