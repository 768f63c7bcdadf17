-- Tickets opened per shop, month (UTC) and status, newest month first.
SELECT
    account,
    strftime(created_date, '%Y-%m') AS month,
    status_label AS status,
    count(*) AS tickets
FROM mgr.tickets
GROUP BY account, month, status
ORDER BY month DESC, account, tickets DESC, status;
