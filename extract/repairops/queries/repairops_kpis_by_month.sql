-- RepairOps KPIs per organisation, shop and month: revenue and throughput summed over the days, turnaround weighted by throughput, QC pass rate and satisfaction averaged over the days that report them.
SELECT
    account,
    shop_id,
    strftime(date, '%Y-%m') AS month,
    count(*) AS days,
    sum(revenue) AS revenue,
    sum(throughput) AS throughput,
    round(sum(avg_turnaround_days * throughput) / nullif(sum(throughput) FILTER (WHERE avg_turnaround_days IS NOT NULL), 0), 2) AS avg_turnaround_days,
    round(avg(qc_pass_rate), 4) AS qc_pass_rate,
    round(avg(customer_satisfaction), 2) AS customer_satisfaction
FROM repairops.kpi_daily
GROUP BY account, shop_id, month
ORDER BY month DESC, account, shop_id;
