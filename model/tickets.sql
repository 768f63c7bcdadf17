-- Repair tickets of every source. status is the source's label, status_group its group (open, waiting, done, cancelled: meta.status_groups, the account's own rules before the defaults; status_mapped is false for a label no rule names, counted as open). closed_at is when the ticket entered its current done stretch: from the source's own timeline or closing time (closed_at_basis 'timeline'); else the first run that saw it done ('observed', from the history); else, when it was done when first seen, the source's last update then ('last_updated', an upper bound). created_day and closed_day are dates in the account's time zone (meta.accounts); currency is the account's (its currency key in the config; NULL when not set). Deleted tickets are left out.
WITH rules AS (
    SELECT account, label, status_group FROM meta.status_groups
),
zones AS (
    SELECT account, coalesce(timezone, 'UTC') AS tz, currency FROM meta.accounts
),
versions AS (
    SELECT h.source, h.account, h.id, h.valid_from, h.last_updated,
           coalesce(ra.status_group, rd.status_group, 'open') AS status_group
    FROM part_ticket_versions h
    LEFT JOIN rules ra ON ra.account = h.account AND ra.label = lower(trim(replace(h.status, '_', ' ')))
    LEFT JOIN rules rd ON rd.account = '*' AND rd.label = lower(trim(replace(h.status, '_', ' ')))
),
stretch AS (
    -- the last version not done, and the version the export saw first
    SELECT source, account, id,
           max(valid_from) FILTER (WHERE status_group <> 'done') AS last_not_done,
           arg_min(last_updated, valid_from) AS first_last_updated
    FROM versions
    GROUP BY ALL
),
observed AS (
    SELECT v.source, v.account, v.id, s.last_not_done, s.first_last_updated,
           min(v.valid_from) FILTER (WHERE v.status_group = 'done' AND s.last_not_done IS NOT NULL AND v.valid_from > s.last_not_done) AS done_seen
    FROM versions v JOIN stretch s USING (source, account, id)
    GROUP BY ALL
),
timeline AS (
    SELECT l.source, l.account, l.id, l.began_at,
           coalesce(ra.status_group, rd.status_group, 'open') AS status_group
    FROM part_ticket_timeline l
    LEFT JOIN rules ra ON ra.account = l.account AND ra.label = lower(trim(replace(l.status, '_', ' ')))
    LEFT JOIN rules rd ON rd.account = '*' AND rd.label = lower(trim(replace(l.status, '_', ' ')))
),
timeline_done AS (
    SELECT t.source, t.account, t.id,
           min(t.began_at) FILTER (WHERE t.status_group = 'done' AND (x.last_not_done IS NULL OR t.began_at > x.last_not_done)) AS done_at
    FROM timeline t
    JOIN (SELECT source, account, id, max(began_at) FILTER (WHERE status_group <> 'done') AS last_not_done FROM timeline GROUP BY ALL) x USING (source, account, id)
    GROUP BY ALL
),
grouped AS (
    SELECT c.*, coalesce(ra.status_group, rd.status_group, 'open') AS status_group,
           ra.status_group IS NOT NULL OR rd.status_group IS NOT NULL AS status_mapped
    FROM part_tickets c
    LEFT JOIN rules ra ON ra.account = c.account AND ra.label = lower(trim(replace(c.status, '_', ' ')))
    LEFT JOIN rules rd ON rd.account = '*' AND rd.label = lower(trim(replace(c.status, '_', ' ')))
),
closing AS (
    SELECT g.*,
        CASE
            WHEN g.status_group <> 'done' THEN NULL
            WHEN td.done_at IS NOT NULL THEN td.done_at
            WHEN g.source_closed_at IS NOT NULL THEN g.source_closed_at
            WHEN o.done_seen IS NOT NULL THEN o.done_seen
            ELSE coalesce(o.first_last_updated, g.updated_at)
        END AS closed_at,
        CASE
            WHEN g.status_group <> 'done' THEN NULL
            WHEN td.done_at IS NOT NULL OR g.source_closed_at IS NOT NULL THEN 'timeline'
            WHEN o.done_seen IS NOT NULL THEN 'observed'
            ELSE 'last_updated'
        END AS closed_at_basis
    FROM grouped g
    LEFT JOIN timeline_done td ON td.source = g.source AND td.account = g.account AND td.id = g.id
    LEFT JOIN observed o ON o.source = g.source AND o.account = g.account AND o.id = g.id
)
SELECT c.source, c.account, c.shop, c.id, c.number, c.customer_id, c.status, c.status_group, c.status_mapped,
       c.device, c.issue, c.technician, c.created_at, c.closed_at, c.closed_at_basis,
       c.total,
       meta.local_day(z.tz, c.created_at) AS created_day,
       meta.local_day(z.tz, c.closed_at) AS closed_day,
       z.currency
FROM closing c
LEFT JOIN zones z ON z.account = c.account
