-- Purchase orders: MGR's (supplier, status, ordered and received dates, totals; order_day in the account's time zone). RepairOps' API has no purchase orders. Deleted orders are left out.
WITH zones AS (
    SELECT account, coalesce(timezone, 'UTC') AS tz FROM meta.accounts
)
SELECT 'mgr' AS source, o.account, o.id, o.po_number AS number, o.supplier_id, o.supplier_name AS supplier, o.status,
       o.created_date AS ordered_at, o.expected_date AS expected_at, o.received_date AS received_at,
       CAST(timezone(coalesce(z.tz, 'UTC'), o.created_date) AS DATE) AS order_day,
       CAST(o.amount_subtotal AS DECIMAL(18,2)) AS subtotal, CAST(o.amount_tax AS DECIMAL(18,2)) AS tax,
       CAST(o.amount_shipping AS DECIMAL(18,2)) AS shipping, CAST(o.amount_total AS DECIMAL(18,2)) AS total
FROM mgr.purchase_orders o LEFT JOIN zones z ON z.account = o.account
WHERE o.deleted_at IS NULL
