-- MGR status changes, 'observed': the start of the first run that saw each new status (mgr.tickets_history). Deleted tickets are left out.
WITH versions AS (
    SELECT h.account, h.id AS ticket_id, h.status_label AS status, h.valid_from,
           lag(h.status_label) OVER (PARTITION BY h.account, h.id ORDER BY h.valid_from) AS previous
    FROM mgr.tickets_history h
    JOIN mgr.tickets t ON t.account = h.account AND t.id = h.id AND t.deleted_at IS NULL
    WHERE NOT h.deleted
)
SELECT 'mgr' AS source, account, ticket_id, row_number() OVER (PARTITION BY account, ticket_id ORDER BY valid_from) AS seq,
       status, valid_from AS changed_at, 'observed' AS basis
FROM versions
WHERE previous IS NULL OR previous IS DISTINCT FROM status
