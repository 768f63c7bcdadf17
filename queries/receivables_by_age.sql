-- Receivables by age, every source: invoices with money still due, per account, by the invoice's age in days as of --to (default today) in the shop's time zone: 0-30, 31-60, 61-90, over 90, in the shop's currency (the config's currency key). RepairOps invoices have a due amount only for accounts that receive its payment webhooks (repairshop-export listen); without them it is unknown and they are left out.
-- params: to, account
WITH d AS (
    SELECT source, account, currency, due,
           date_diff('day', created_day, coalesce(getvariable('to'), current_date)) AS age_days
    FROM main.invoices
    WHERE due > 0
      AND (getvariable('to') IS NULL OR created_day <= getvariable('to'))
      AND (getvariable('accounts') IS NULL OR list_contains(getvariable('accounts'), account))
)
SELECT source, account, currency,
       CASE WHEN age_days <= 30 THEN '0-30' WHEN age_days <= 60 THEN '31-60' WHEN age_days <= 90 THEN '61-90' ELSE 'over 90' END AS age,
       count(*) AS invoices, sum(due) AS due
FROM d
GROUP BY ALL
ORDER BY source, account, min(age_days);
