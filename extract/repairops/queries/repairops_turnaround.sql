-- RepairOps tickets closed per organisation, shop and month (UTC) of closing, with the days from intake to closing (mean, median, slowest), from each ticket's timeline. Tickets that name no shop (the documented list names none) count for the organisation's shop_id 'all', as its KPIs do.
WITH closed AS (
    SELECT t.account, coalesce(t.shop_id, 'all') AS shop_id, t.id, t.created_at, min(l.timestamp) AS closed_at
    FROM repairops.tickets t
    JOIN repairops.ticket_timeline l ON l.account = t.account AND l.ticket_id = t.id AND upper(l.status) = 'CLOSED'
    GROUP BY ALL
)
SELECT
    account,
    shop_id,
    strftime(closed_at, '%Y-%m') AS month,
    count(*) AS tickets_closed,
    round(avg(date_diff('second', created_at, closed_at)) / 86400, 2) AS mean_days,
    round(median(date_diff('second', created_at, closed_at)) / 86400, 2) AS median_days,
    round(max(date_diff('second', created_at, closed_at)) / 86400, 2) AS slowest_days
FROM closed
GROUP BY account, shop_id, month
ORDER BY month DESC, account, shop_id;
