-- Tiny job versions as the export saw them (tiny.jobs_history).
SELECT 'tiny' AS source, account, id, valid_from, updated_at AS last_updated, status
FROM tiny.jobs_history WHERE NOT deleted
