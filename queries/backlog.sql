-- Backlog, every source: tickets neither done nor cancelled, per shop, status group (open, waiting) and age in days since they were opened, in the shop's time zone, as of --to (default today): 0-2, 3-7, 8-14, 15-30, over 30. Status as of now (MGR has no status history before the export's).
-- params: to, account
WITH t AS (
    SELECT source, account, shop, status_group,
           date_diff('day', created_day, coalesce(getvariable('to'), current_date)) AS age
    FROM main.tickets
    WHERE status_group IN ('open', 'waiting')
      AND (getvariable('to') IS NULL OR created_day <= getvariable('to'))
      AND (getvariable('accounts') IS NULL OR list_contains(getvariable('accounts'), account))
)
SELECT source, account, shop, status_group,
       CASE WHEN age <= 2 THEN '0-2' WHEN age <= 7 THEN '3-7' WHEN age <= 14 THEN '8-14' WHEN age <= 30 THEN '15-30' ELSE 'over 30' END AS age_days,
       count(*) AS tickets
FROM t
GROUP BY ALL
ORDER BY source, account, shop, status_group, min(age);
