-- MGR payments received per shop, month (UTC) of the payment and method, ticket and POS invoices together.
SELECT
    account,
    strftime(coalesce(date, created_date), '%Y-%m') AS month,
    coalesce(method, '(none)') AS method,
    count(*) AS payments,
    sum(amount) AS amount
FROM (
    SELECT account, date, created_date, method, amount FROM mgr.ticket_invoice_payments
    UNION ALL
    SELECT account, date, created_date, method, amount FROM mgr.pos_invoice_payments
)
GROUP BY account, month, method
ORDER BY month DESC, account, amount DESC, method;
