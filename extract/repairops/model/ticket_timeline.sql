-- RepairOps' own status timeline: when each status began.
SELECT 'repairops' AS source, account, ticket_id AS id, timestamp AS began_at, status
FROM repairops.ticket_timeline
