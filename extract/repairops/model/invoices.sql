-- RepairOps has no invoices: a ticket's total_cost is billed when it is closed (kind 'ticket', id and number the ticket's, created_at its closed_at). Its API has no payments either, so paid and due come from the payment.processed webhook events of accounts that receive them (repairshop-export listen), else are unknown (NULL).
WITH paid AS (
    SELECT account, ticket_id, sum(amount) AS paid FROM repairops.payments WHERE ticket_id IS NOT NULL GROUP BY ALL
),
receiving AS (
    SELECT DISTINCT account FROM repairops.webhook_events
)
SELECT 'repairops' AS source, t.account, t.id, 'ticket' AS kind, t.number, t.id AS ticket_id, t.customer_id, t.status, t.closed_at AS created_at,
       t.total AS subtotal, NULL AS tax, t.total,
       CASE WHEN r.account IS NOT NULL THEN coalesce(p.paid, 0) END AS paid,
       CASE WHEN r.account IS NOT NULL THEN t.total - coalesce(p.paid, 0) END AS due
FROM main.tickets t
LEFT JOIN receiving r ON r.account = t.account
LEFT JOIN paid p ON p.account = t.account AND p.ticket_id = t.id
WHERE t.source = 'repairops' AND t.status_group = 'done' AND t.total IS NOT NULL
