-- Purchase orders to suppliers (supplier, status, ordered and received dates, totals; order_day in the account's time zone), from the sources that have them. Deleted orders are left out.
WITH zones AS (
    SELECT account, coalesce(timezone, 'UTC') AS tz FROM meta.accounts
)
SELECT o.source, o.account, o.id, o.number, o.supplier_id, o.supplier, o.status, o.ordered_at, o.expected_at, o.received_at,
       meta.local_day(z.tz, o.ordered_at) AS order_day,
       o.subtotal, o.tax, o.shipping, o.total
FROM part_purchase_orders o LEFT JOIN zones z ON z.account = o.account
