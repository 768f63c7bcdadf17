-- Payments: MGR ticket and POS invoice payments, and RepairOps payments from its payment.processed webhook events (repairshop-export listen; its API has no payment endpoint) against the ticket they name (amount, method, when; paid_day in the account's time zone; currency the account's, as the config sets it). Payments of deleted invoices are left out.
WITH zones AS (
    SELECT account, coalesce(timezone, 'UTC') AS tz, currency FROM meta.accounts
),
p AS (
    SELECT 'mgr' AS source, p.account, p.ticket_invoice_id AS invoice_id, 'ticket' AS invoice_kind, p.line_no, p.id, p.amount, p.method, p.date AS paid_at
    FROM mgr.ticket_invoice_payments p JOIN mgr.ticket_invoices i ON i.account = p.account AND i.id = p.ticket_invoice_id AND i.deleted_at IS NULL
    UNION ALL
    SELECT 'mgr', p.account, p.pos_invoice_id, 'pos', p.line_no, p.id, p.amount, p.method, p.date
    FROM mgr.pos_invoice_payments p JOIN mgr.pos_invoices i ON i.account = p.account AND i.id = p.pos_invoice_id AND i.deleted_at IS NULL
    UNION ALL
    SELECT 'repairops', p.account, p.ticket_id, 'ticket', NULL, p.id, p.amount, p.method, p.processed_at
    FROM repairops.payments p
)
SELECT p.source, p.account, p.invoice_id, p.invoice_kind, p.line_no, p.id, CAST(p.amount AS DECIMAL(18,2)) AS amount, p.method, p.paid_at,
       CAST(timezone(coalesce(z.tz, 'UTC'), p.paid_at) AS DATE) AS paid_day,
       z.currency
FROM p LEFT JOIN zones z ON z.account = p.account
