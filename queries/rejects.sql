-- Records quarantined by the last runs, with the reason (column and value).
SELECT run_id, account, table_name, record_key, reason, rejected_at
FROM meta.rejects
ORDER BY rejected_at DESC, table_name, record_key
LIMIT 200;
