-- MGR invoices with money still due, per shop, by age of the invoice today (0-30, 31-60, 61-90, over 90 days): what the bookkeeper chases.
SELECT
    account,
    CASE
        WHEN age_days <= 30 THEN '0-30'
        WHEN age_days <= 60 THEN '31-60'
        WHEN age_days <= 90 THEN '61-90'
        ELSE 'over 90'
    END AS age,
    count(*) AS invoices,
    sum(amount_due) AS due,
    min(created_date) AS oldest
FROM (
    SELECT account, created_date, amount_due, date_diff('day', created_date, current_timestamp) AS age_days FROM mgr.ticket_invoices WHERE amount_due > 0
    UNION ALL
    SELECT account, created_date, amount_due, date_diff('day', created_date, current_timestamp) FROM mgr.pos_invoices WHERE amount_due > 0
)
GROUP BY account, age
ORDER BY account, min(age_days);
