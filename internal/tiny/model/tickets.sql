-- Tiny jobs as tickets: the title is the issue; a job has no customer, device or technician.
SELECT 'tiny' AS source, account, account AS shop, id, id AS number, NULL AS customer_id, status,
       NULL AS device, title AS issue, NULL AS technician, created_at, updated_at, total, NULL AS source_closed_at
FROM tiny.jobs WHERE deleted_at IS NULL
