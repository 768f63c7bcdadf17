-- RepairOps payments, from its payment.processed webhook events (repairshop-export listen; its API has no payment endpoint), against the ticket they name.
SELECT 'repairops' AS source, account, ticket_id AS invoice_id, 'ticket' AS invoice_kind, NULL AS line_no, id, amount, method, processed_at AS paid_at
FROM repairops.payments
