-- Turnaround, every source: tickets closed per shop and month of closing (in the shop's time zone), with the median and 90th-percentile days from creation to closing. basis says how the closing times are known (timeline, observed, last_updated: see main.tickets).
-- params: from, to, account
SELECT source, account, shop, strftime(closed_day, '%Y-%m') AS month,
       count(*) AS tickets_closed,
       round(median(date_diff('second', created_at, closed_at)) / 86400, 2) AS median_days,
       round(quantile_cont(date_diff('second', created_at, closed_at), 0.9) / 86400, 2) AS p90_days,
       string_agg(DISTINCT closed_at_basis, ',' ORDER BY closed_at_basis) AS basis
FROM main.tickets
WHERE closed_at IS NOT NULL
  AND (getvariable('from') IS NULL OR closed_day >= getvariable('from'))
  AND (getvariable('to') IS NULL OR closed_day <= getvariable('to'))
  AND (getvariable('accounts') IS NULL OR list_contains(getvariable('accounts'), account))
GROUP BY ALL
ORDER BY month DESC, source, account, shop;
