-- RepairOps ticket versions as the export saw them (repairops.tickets_history).
SELECT 'repairops' AS source, h.account, h.id, h.valid_from, h.updated_at AS last_updated, h.status
FROM repairops.tickets_history h
WHERE NOT h.deleted
