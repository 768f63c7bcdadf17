-- Payments of every source against the invoice they pay (amount, method, when; paid_day in the account's time zone; currency the account's, as the config sets it). Payments of deleted invoices are left out.
WITH zones AS (
    SELECT account, coalesce(timezone, 'UTC') AS tz, currency FROM meta.accounts
)
SELECT p.source, p.account, p.invoice_id, p.invoice_kind, p.line_no, p.id, p.amount, p.method, p.paid_at,
       meta.local_day(z.tz, p.paid_at) AS paid_day,
       z.currency
FROM part_payments p LEFT JOIN zones z ON z.account = p.account
