-- MGR sales per shop and month (UTC) of the invoice date: ticket and POS invoices, their totals, tax, what is paid and what is still due.
SELECT
    account,
    strftime(created_date, '%Y-%m') AS month,
    kind,
    count(*) AS invoices,
    sum(amount_subtotal) AS subtotal,
    sum(amount_tax) AS tax,
    sum(amount_total) AS total,
    sum(amount_paid) AS paid,
    sum(amount_due) AS due
FROM (
    SELECT 'ticket' AS kind, account, created_date, amount_subtotal, amount_tax, amount_total, amount_paid, amount_due FROM mgr.ticket_invoices
    UNION ALL
    SELECT 'pos', account, created_date, amount_subtotal, amount_tax, amount_total, amount_paid, amount_due FROM mgr.pos_invoices
)
GROUP BY account, month, kind
ORDER BY month DESC, account, kind;
