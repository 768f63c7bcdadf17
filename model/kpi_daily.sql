-- Daily KPIs per shop: RepairOps' own snapshots (basis 'source'; shop is the account for the organisation-wide 'all'), and the same measures computed from MGR tickets and invoices by day in the account's time zone (basis 'computed': revenue the day's invoice totals, throughput the tickets closed that day, avg_turnaround_days their mean days from creation to closing, avg_ticket_value revenue per invoice; the rates MGR cannot give are NULL).
WITH mgr_revenue AS (
    SELECT account, created_day AS date, sum(total) AS revenue, count(*) AS invoices
    FROM main.invoices WHERE source = 'mgr' AND total IS NOT NULL
    GROUP BY ALL
),
mgr_closed AS (
    SELECT account, closed_day AS date, count(*) AS throughput,
           avg(date_diff('second', created_at, closed_at)) / 86400 AS avg_turnaround_days
    FROM main.tickets WHERE source = 'mgr' AND closed_at IS NOT NULL
    GROUP BY ALL
),
mgr AS (
    SELECT 'mgr' AS source, coalesce(r.account, c.account) AS account, coalesce(r.account, c.account) AS shop,
           coalesce(r.date, c.date) AS date, coalesce(r.revenue, 0) AS revenue, coalesce(c.throughput, 0) AS throughput,
           c.avg_turnaround_days, NULL AS qc_pass_rate, NULL AS customer_satisfaction, NULL AS labor_margin, NULL AS parts_margin,
           r.revenue / nullif(r.invoices, 0) AS avg_ticket_value, 'computed' AS basis
    FROM mgr_revenue r FULL JOIN mgr_closed c ON c.account = r.account AND c.date = r.date
)
SELECT source, account, shop, date, CAST(revenue AS DECIMAL(18,2)) AS revenue, CAST(throughput AS BIGINT) AS throughput,
       CAST(avg_turnaround_days AS DECIMAL(18,4)) AS avg_turnaround_days, CAST(qc_pass_rate AS DECIMAL(18,4)) AS qc_pass_rate,
       CAST(customer_satisfaction AS DECIMAL(18,4)) AS customer_satisfaction, CAST(labor_margin AS DECIMAL(18,4)) AS labor_margin,
       CAST(parts_margin AS DECIMAL(18,4)) AS parts_margin, CAST(avg_ticket_value AS DECIMAL(18,2)) AS avg_ticket_value, basis
FROM mgr
UNION ALL
SELECT 'repairops', account, CASE WHEN shop_id = 'all' THEN account ELSE shop_id END, date, revenue, throughput, avg_turnaround_days, qc_pass_rate, customer_satisfaction,
       labor_margin, parts_margin, NULL, 'source'
FROM repairops.kpi_daily WHERE deleted_at IS NULL
