-- Revenue per technician, every source: ticket invoice totals per shop, month of the invoice (in the shop's time zone) and the technician of the ticket invoiced (MGR: the ticket's technician; RepairOps: the ticket's assignee). Tickets without one show as 'unassigned'; POS sales have no technician. currency is the shop's (the config's currency key).
-- params: from, to, account
SELECT i.source, i.account, t.shop, strftime(i.created_day, '%Y-%m') AS month,
       coalesce(t.technician, 'unassigned') AS technician, i.currency,
       count(*) AS invoices, sum(i.total) AS revenue
FROM main.invoices i
JOIN main.tickets t ON t.source = i.source AND t.account = i.account AND t.id = i.ticket_id
WHERE i.kind = 'ticket' AND i.total IS NOT NULL
  AND (getvariable('from') IS NULL OR i.created_day >= getvariable('from'))
  AND (getvariable('to') IS NULL OR i.created_day <= getvariable('to'))
  AND (getvariable('accounts') IS NULL OR list_contains(getvariable('accounts'), i.account))
GROUP BY ALL
ORDER BY month DESC, i.source, i.account, t.shop, revenue DESC;
