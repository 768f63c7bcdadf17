-- Ticket status changes of every source, one row per change: from_status (NULL for the first status known), to_status, their groups, when (changed_at, and changed_day in the account's time zone) and how it is known (basis): 'timeline' (the source gives the transition times), 'event' (a webhook the timeline does not hold yet: exact too), 'observed' (the source has no status history: the start of the first run that saw the new status, from the export's history). Deleted tickets are left out.
WITH rules AS (
    SELECT account, label, status_group FROM meta.status_groups
),
zones AS (
    SELECT account, coalesce(timezone, 'UTC') AS tz FROM meta.accounts
),
ordered AS (
    SELECT *, lag(status) OVER (PARTITION BY source, account, ticket_id ORDER BY changed_at, seq) AS from_status
    FROM part_status_changes
)
SELECT o.source, o.account, o.ticket_id, o.from_status, o.status AS to_status,
       CASE WHEN o.from_status IS NULL THEN NULL ELSE coalesce(fa.status_group, fd.status_group, 'open') END AS from_group,
       coalesce(ta.status_group, td.status_group, 'open') AS to_group,
       o.changed_at,
       meta.local_day(z.tz, o.changed_at) AS changed_day,
       o.basis
FROM ordered o
LEFT JOIN rules fa ON fa.account = o.account AND fa.label = lower(trim(replace(o.from_status, '_', ' ')))
LEFT JOIN rules fd ON fd.account = '*' AND fd.label = lower(trim(replace(o.from_status, '_', ' ')))
LEFT JOIN rules ta ON ta.account = o.account AND ta.label = lower(trim(replace(o.status, '_', ' ')))
LEFT JOIN rules td ON td.account = '*' AND td.label = lower(trim(replace(o.status, '_', ' ')))
LEFT JOIN zones z ON z.account = o.account
