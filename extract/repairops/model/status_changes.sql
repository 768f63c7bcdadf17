-- RepairOps status changes: its timeline ('timeline': the transition times), and ticket.transitioned webhook events the timeline does not hold yet ('event': exact too). Deleted tickets are left out.
WITH timeline AS (
    SELECT l.account, l.ticket_id, l.line_no AS seq, l.status, l.timestamp AS changed_at, 'timeline' AS basis
    FROM repairops.ticket_timeline l
    JOIN repairops.tickets t ON t.account = l.account AND t.id = l.ticket_id AND t.deleted_at IS NULL
    WHERE l.status IS NOT NULL AND l.timestamp IS NOT NULL
),
events AS (
    SELECT e.account, e.ticket_id, NULL::BIGINT AS seq, e.to_status AS status, e.timestamp AS changed_at, 'event' AS basis
    FROM repairops.webhook_events e
    LEFT JOIN repairops.tickets t ON t.account = e.account AND t.id = e.ticket_id
    WHERE e.event = 'ticket.transitioned' AND e.ticket_id IS NOT NULL AND e.to_status IS NOT NULL AND e.timestamp IS NOT NULL
      AND t.deleted_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM timeline r WHERE r.account = e.account AND r.ticket_id = e.ticket_id AND r.status = e.to_status AND r.changed_at = e.timestamp)
)
SELECT 'repairops' AS source, * FROM timeline
UNION ALL
SELECT 'repairops', * FROM events
