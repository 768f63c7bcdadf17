-- Ticket status changes of both sources, one row per change: from_status (NULL for the first status known), to_status, their groups, when (changed_at, and changed_day in the account's time zone) and how it is known: 'timeline' (RepairOps gives the transition times), 'event' (a RepairOps ticket.transitioned webhook the timeline does not hold yet: exact too), 'observed' (MGR has no status history: the start of the first run that saw the new status, from mgr.tickets_history). Deleted tickets are left out.
WITH rules AS (
    SELECT account, label, status_group FROM meta.status_groups
),
zones AS (
    SELECT account, coalesce(timezone, 'UTC') AS tz FROM meta.accounts
),
ro AS (
    SELECT 'repairops' AS source, l.account, l.ticket_id, l.line_no AS seq, l.status, l.timestamp AS changed_at, 'timeline' AS basis
    FROM repairops.ticket_timeline l
    JOIN repairops.tickets t ON t.account = l.account AND t.id = l.ticket_id AND t.deleted_at IS NULL
    WHERE l.status IS NOT NULL AND l.timestamp IS NOT NULL
),
ro_events AS (
    SELECT 'repairops' AS source, e.account, e.ticket_id, NULL::BIGINT AS seq, e.to_status AS status, e.timestamp AS changed_at, 'event' AS basis
    FROM repairops.webhook_events e
    LEFT JOIN repairops.tickets t ON t.account = e.account AND t.id = e.ticket_id
    WHERE e.event = 'ticket.transitioned' AND e.ticket_id IS NOT NULL AND e.to_status IS NOT NULL AND e.timestamp IS NOT NULL
      AND t.deleted_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM ro r WHERE r.account = e.account AND r.ticket_id = e.ticket_id AND r.status = e.to_status AND r.changed_at = e.timestamp)
),
mgr_versions AS (
    SELECT h.account, h.id AS ticket_id, h.status_label AS status, h.valid_from,
           lag(h.status_label) OVER (PARTITION BY h.account, h.id ORDER BY h.valid_from) AS previous
    FROM mgr.tickets_history h
    JOIN mgr.tickets t ON t.account = h.account AND t.id = h.id AND t.deleted_at IS NULL
    WHERE NOT h.deleted
),
mgr AS (
    SELECT 'mgr' AS source, account, ticket_id, row_number() OVER (PARTITION BY account, ticket_id ORDER BY valid_from) AS seq,
           status, valid_from AS changed_at, 'observed' AS basis
    FROM mgr_versions
    WHERE previous IS NULL OR previous IS DISTINCT FROM status
),
changes AS (
    SELECT * FROM ro
    UNION ALL
    SELECT * FROM ro_events
    UNION ALL
    SELECT * FROM mgr
),
ordered AS (
    SELECT *, lag(status) OVER (PARTITION BY source, account, ticket_id ORDER BY changed_at, seq) AS from_status
    FROM changes
)
SELECT o.source, o.account, o.ticket_id, o.from_status, o.status AS to_status,
       CASE WHEN o.from_status IS NULL THEN NULL ELSE coalesce(fa.status_group, fd.status_group, 'open') END AS from_group,
       coalesce(ta.status_group, td.status_group, 'open') AS to_group,
       o.changed_at,
       CAST(timezone(coalesce(z.tz, 'UTC'), o.changed_at) AS DATE) AS changed_day,
       o.basis
FROM ordered o
LEFT JOIN rules fa ON fa.account = o.account AND fa.label = lower(trim(replace(o.from_status, '_', ' ')))
LEFT JOIN rules fd ON fd.account = '*' AND fd.label = lower(trim(replace(o.from_status, '_', ' ')))
LEFT JOIN rules ta ON ta.account = o.account AND ta.label = lower(trim(replace(o.status, '_', ' ')))
LEFT JOIN rules td ON td.account = '*' AND td.label = lower(trim(replace(o.status, '_', ' ')))
LEFT JOIN zones z ON z.account = o.account
