-- Purchase-order spend and fill rate by supplier (MGR; RepairOps' API has no purchase orders): per supplier and month ordered (in the shop's time zone), orders, spend, quantities ordered and received, fill rate (received / ordered) and the median lead time in days of the orders received.
-- params: from, to, account
WITH lines AS (
    SELECT source, account, purchase_order_id, sum(quantity_ordered) AS ordered, sum(quantity_received) AS received
    FROM main.purchase_order_lines GROUP BY ALL
)
SELECT o.source, o.account, coalesce(o.supplier, '(none)') AS supplier, strftime(o.order_day, '%Y-%m') AS month,
       count(*) AS orders, sum(o.total) AS spend,
       sum(l.ordered) AS quantity_ordered, sum(l.received) AS quantity_received,
       round(sum(l.received) / nullif(sum(l.ordered), 0), 4) AS fill_rate,
       round(median(date_diff('second', o.ordered_at, o.received_at)) / 86400, 1) AS median_lead_days
FROM main.purchase_orders o
LEFT JOIN lines l ON l.source = o.source AND l.account = o.account AND l.purchase_order_id = o.id
WHERE (getvariable('from') IS NULL OR o.order_day >= getvariable('from'))
  AND (getvariable('to') IS NULL OR o.order_day <= getvariable('to'))
  AND (getvariable('accounts') IS NULL OR list_contains(getvariable('accounts'), o.account))
GROUP BY ALL
ORDER BY month DESC, o.source, o.account, spend DESC;
