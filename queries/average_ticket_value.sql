-- Average ticket value, every source: ticket invoices per shop and month (in the shop's time zone): count, revenue, and the mean invoice total, in the shop's currency (its currency key in the config; empty when not set).
-- params: from, to, account
SELECT i.source, i.account, coalesce(t.shop, i.account) AS shop, strftime(i.created_day, '%Y-%m') AS month, i.currency,
       count(*) AS invoices, sum(i.total) AS revenue, CAST(round(avg(i.total), 2) AS DECIMAL(18,2)) AS average_value
FROM main.invoices i
LEFT JOIN main.tickets t ON t.source = i.source AND t.account = i.account AND t.id = i.ticket_id
WHERE i.kind = 'ticket' AND i.total IS NOT NULL
  AND (getvariable('from') IS NULL OR i.created_day >= getvariable('from'))
  AND (getvariable('to') IS NULL OR i.created_day <= getvariable('to'))
  AND (getvariable('accounts') IS NULL OR list_contains(getvariable('accounts'), i.account))
GROUP BY ALL
ORDER BY month DESC, i.source, i.account, shop;
