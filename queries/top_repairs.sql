-- Top repairs, every source: the device and issue combinations most often repaired, per account, for tickets opened in the period (in the shop's time zone): tickets and their total value (tickets without a total count as none).
-- params: from, to, account
SELECT source, account, coalesce(device, '(unknown)') AS device, coalesce(issue, '(unknown)') AS issue,
       count(*) AS tickets, coalesce(sum(total), 0) AS value
FROM main.tickets
WHERE (getvariable('from') IS NULL OR created_day >= getvariable('from'))
  AND (getvariable('to') IS NULL OR created_day <= getvariable('to'))
  AND (getvariable('accounts') IS NULL OR list_contains(getvariable('accounts'), account))
GROUP BY ALL
ORDER BY tickets DESC, value DESC, source, account, device, issue;
