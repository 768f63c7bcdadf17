-- RepairOps' own daily KPI snapshots (basis 'source'); the shop is the account for the organisation-wide 'all'.
SELECT 'repairops' AS source, account, CASE WHEN shop_id = 'all' THEN account ELSE shop_id END AS shop, date, revenue, throughput,
       avg_turnaround_days, qc_pass_rate, customer_satisfaction, labor_margin, parts_margin, NULL AS avg_ticket_value, 'source' AS basis
FROM repairops.kpi_daily WHERE deleted_at IS NULL
