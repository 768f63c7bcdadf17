-- MGR has no KPI endpoint: the day's measures computed from its tickets and invoices in the conformed model, by day in the account's time zone (basis 'computed': revenue the day's invoice totals, throughput the tickets closed that day, avg_turnaround_days their mean days from creation to closing, avg_ticket_value revenue per invoice; the rates MGR cannot give are NULL).
WITH revenue AS (
    SELECT account, created_day AS date, sum(total) AS revenue, count(*) AS invoices
    FROM main.invoices WHERE source = 'mgr' AND total IS NOT NULL
    GROUP BY ALL
),
closed AS (
    SELECT account, closed_day AS date, count(*) AS throughput,
           avg(date_diff('second', created_at, closed_at)) / 86400 AS avg_turnaround_days
    FROM main.tickets WHERE source = 'mgr' AND closed_at IS NOT NULL
    GROUP BY ALL
)
SELECT 'mgr' AS source, coalesce(r.account, c.account) AS account, coalesce(r.account, c.account) AS shop,
       coalesce(r.date, c.date) AS date, coalesce(r.revenue, 0) AS revenue, coalesce(c.throughput, 0) AS throughput,
       c.avg_turnaround_days, NULL AS qc_pass_rate, NULL AS customer_satisfaction, NULL AS labor_margin, NULL AS parts_margin,
       r.revenue / nullif(r.invoices, 0) AS avg_ticket_value, 'computed' AS basis
FROM revenue r FULL JOIN closed c ON c.account = r.account AND c.date = r.date
