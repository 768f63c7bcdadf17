-- Invoices of both sources: MGR ticket invoices (kind 'ticket') and POS invoices ('pos'); RepairOps bills a ticket's total_cost when it is closed (kind 'ticket', id and number the ticket's, created_at its closed_at; its API has no invoices or payments, so paid and due come from the payment.processed webhook events of accounts that receive them (repairshop-export listen), else are unknown (NULL)). created_day in the account's time zone; currency the account's (the config's currency key; NULL when not set). Deleted invoices are left out.
WITH zones AS (
    SELECT account, coalesce(timezone, 'UTC') AS tz, currency FROM meta.accounts
),
ro_paid AS (
    SELECT account, ticket_id, sum(amount) AS paid FROM repairops.payments WHERE ticket_id IS NOT NULL GROUP BY ALL
),
ro_receiving AS (
    SELECT DISTINCT account FROM repairops.webhook_events
),
i AS (
    SELECT 'mgr' AS source, account, id, 'ticket' AS kind, invoice_number AS number, ticket_id, customer_id, status, created_date AS created_at,
           amount_subtotal AS subtotal, amount_tax AS tax, amount_total AS total, amount_paid AS paid, amount_due AS due
    FROM mgr.ticket_invoices WHERE deleted_at IS NULL
    UNION ALL
    SELECT 'mgr', account, id, 'pos', invoice_number, NULL, customer_id, status, created_date,
           amount_subtotal, amount_tax, amount_total, amount_paid, amount_due
    FROM mgr.pos_invoices WHERE deleted_at IS NULL
    UNION ALL
    SELECT 'repairops', t.account, t.id, 'ticket', t.number, t.id, t.customer_id, t.status, t.closed_at,
           t.total, NULL, t.total,
           CASE WHEN r.account IS NOT NULL THEN coalesce(p.paid, 0) END,
           CASE WHEN r.account IS NOT NULL THEN t.total - coalesce(p.paid, 0) END
    FROM main.tickets t
    LEFT JOIN ro_receiving r ON r.account = t.account
    LEFT JOIN ro_paid p ON p.account = t.account AND p.ticket_id = t.id
    WHERE t.source = 'repairops' AND t.status_group = 'done' AND t.total IS NOT NULL
)
SELECT i.source, i.account, i.id, i.kind, i.number, i.ticket_id, i.customer_id, i.status, i.created_at,
       CAST(timezone(coalesce(z.tz, 'UTC'), i.created_at) AS DATE) AS created_day,
       CAST(i.subtotal AS DECIMAL(18,2)) AS subtotal, CAST(i.tax AS DECIMAL(18,2)) AS tax, CAST(i.total AS DECIMAL(18,2)) AS total,
       CAST(i.paid AS DECIMAL(18,2)) AS paid, CAST(i.due AS DECIMAL(18,2)) AS due,
       z.currency
FROM i LEFT JOIN zones z ON z.account = i.account
