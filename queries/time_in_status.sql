-- Time in status, every source: how long tickets stay in each status before the next change, per source and status: the stays that ended (entered between --from and --to, in the shop's time zone), their median and mean hours. RepairOps from its timelines; MGR from the changes the export observed run to run (so to the nearest run).
-- params: from, to, account
WITH stays AS (
    SELECT source, account, ticket_id, to_status AS status, to_group AS status_group, changed_day,
           date_diff('second', changed_at, lead(changed_at) OVER (PARTITION BY source, account, ticket_id ORDER BY changed_at)) AS seconds
    FROM main.status_changes
)
SELECT source, status, status_group, count(*) AS stays,
       round(median(seconds) / 3600, 1) AS median_hours,
       round(avg(seconds) / 3600, 1) AS mean_hours
FROM stays
WHERE seconds IS NOT NULL
  AND (getvariable('from') IS NULL OR changed_day >= getvariable('from'))
  AND (getvariable('to') IS NULL OR changed_day <= getvariable('to'))
  AND (getvariable('accounts') IS NULL OR list_contains(getvariable('accounts'), account))
GROUP BY ALL
ORDER BY source, median_hours DESC;
