-- Invoices of every source: kind 'ticket' (a repair's) or 'pos' (a sale over the counter); paid and due are unknown (NULL) where the source does not say. created_day in the account's time zone; currency the account's (the config's currency key; NULL when not set). Deleted invoices are left out.
WITH zones AS (
    SELECT account, coalesce(timezone, 'UTC') AS tz, currency FROM meta.accounts
)
SELECT i.source, i.account, i.id, i.kind, i.number, i.ticket_id, i.customer_id, i.status, i.created_at,
       meta.local_day(z.tz, i.created_at) AS created_day,
       i.subtotal, i.tax, i.total, i.paid, i.due,
       z.currency
FROM part_invoices i LEFT JOIN zones z ON z.account = i.account
