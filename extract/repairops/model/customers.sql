-- RepairOps customers (no company or city in its API).
SELECT 'repairops' AS source, account, id, name, email, phone, NULL AS company, NULL AS city, created_at
FROM repairops.customers WHERE deleted_at IS NULL
