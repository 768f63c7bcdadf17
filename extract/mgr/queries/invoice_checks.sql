-- MGR invoices whose figures disagree: total is not subtotal + tax - discount, paid is not the sum of the payments, or due is not total - paid. Empty when the books add up.
SELECT kind, account, id, invoice_number, created_date, amount_subtotal, amount_tax, amount_discount, amount_total, amount_paid, amount_due, payments,
    concat_ws('; ',
        CASE WHEN amount_total <> amount_subtotal + coalesce(amount_tax, 0) - coalesce(amount_discount, 0) THEN 'total is not subtotal + tax - discount' END,
        CASE WHEN amount_paid <> payments THEN 'paid is not the sum of the payments' END,
        CASE WHEN amount_due <> amount_total - amount_paid THEN 'due is not total - paid' END) AS problem
FROM (
    SELECT 'ticket' AS kind, i.*, (SELECT coalesce(sum(p.amount), 0) FROM mgr.ticket_invoice_payments p WHERE p.account = i.account AND p.ticket_invoice_id = i.id) AS payments
    FROM mgr.ticket_invoices i
    UNION ALL BY NAME
    SELECT 'pos' AS kind, i.*, (SELECT coalesce(sum(p.amount), 0) FROM mgr.pos_invoice_payments p WHERE p.account = i.account AND p.pos_invoice_id = i.id) AS payments
    FROM mgr.pos_invoices i
)
WHERE amount_subtotal IS NOT NULL -- its detail is loaded
  AND (amount_total <> amount_subtotal + coalesce(amount_tax, 0) - coalesce(amount_discount, 0)
       OR amount_paid <> payments
       OR amount_due <> amount_total - amount_paid)
ORDER BY account, created_date, kind, id;
