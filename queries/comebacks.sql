-- Comebacks and first-time fixes, every source: per shop and month a ticket was opened (in the shop's time zone), the tickets whose customer brought the same device back within 30 days of an earlier ticket (comebacks), and the share that were not (first_time_fix_rate). Tickets without a customer or a device are not counted.
-- params: from, to, account
WITH t AS (
    SELECT source, account, shop, id, customer_id, lower(trim(device)) AS device, created_at, created_day,
           lag(created_at) OVER (PARTITION BY source, account, customer_id, lower(trim(device)) ORDER BY created_at, id) AS previous
    FROM main.tickets
    WHERE customer_id IS NOT NULL AND device IS NOT NULL AND status_group <> 'cancelled'
)
SELECT source, account, shop, strftime(created_day, '%Y-%m') AS month,
       count(*) AS tickets,
       count(*) FILTER (WHERE previous IS NOT NULL AND created_at - previous <= INTERVAL 30 DAY) AS comebacks,
       round(1 - count(*) FILTER (WHERE previous IS NOT NULL AND created_at - previous <= INTERVAL 30 DAY) / count(*), 4) AS first_time_fix_rate
FROM t
WHERE (getvariable('from') IS NULL OR created_day >= getvariable('from'))
  AND (getvariable('to') IS NULL OR created_day <= getvariable('to'))
  AND (getvariable('accounts') IS NULL OR list_contains(getvariable('accounts'), account))
GROUP BY ALL
ORDER BY month DESC, source, account, shop;
