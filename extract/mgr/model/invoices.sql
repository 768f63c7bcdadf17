-- MGR ticket invoices (kind 'ticket') and POS invoices ('pos'), with MGR's own paid and due amounts.
SELECT 'mgr' AS source, account, id, 'ticket' AS kind, invoice_number AS number, ticket_id, customer_id, status, created_date AS created_at,
       amount_subtotal AS subtotal, amount_tax AS tax, amount_total AS total, amount_paid AS paid, amount_due AS due
FROM mgr.ticket_invoices WHERE deleted_at IS NULL
UNION ALL
SELECT 'mgr', account, id, 'pos', invoice_number, NULL, customer_id, status, created_date,
       amount_subtotal, amount_tax, amount_total, amount_paid, amount_due
FROM mgr.pos_invoices WHERE deleted_at IS NULL
