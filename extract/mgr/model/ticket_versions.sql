-- MGR ticket versions as the export saw them (mgr.tickets_history): MGR has no status history of its own.
SELECT 'mgr' AS source, h.account, h.id, h.valid_from, h.last_updated, h.status_label AS status
FROM mgr.tickets_history h
WHERE NOT h.deleted
