-- MGR ticket and POS invoice payments. Payments of deleted invoices are left out.
SELECT 'mgr' AS source, p.account, p.ticket_invoice_id AS invoice_id, 'ticket' AS invoice_kind, p.line_no, p.id, p.amount, p.method, p.date AS paid_at
FROM mgr.ticket_invoice_payments p JOIN mgr.ticket_invoices i ON i.account = p.account AND i.id = p.ticket_invoice_id AND i.deleted_at IS NULL
UNION ALL
SELECT 'mgr', p.account, p.pos_invoice_id, 'pos', p.line_no, p.id, p.amount, p.method, p.date
FROM mgr.pos_invoice_payments p JOIN mgr.pos_invoices i ON i.account = p.account AND i.id = p.pos_invoice_id AND i.deleted_at IS NULL
