-- RepairOps tickets: the device identifier, the issue description, the assignee; the shop is the ticket's shop (else the organisation); the total is total_cost, and the source gives closed_at itself.
SELECT 'repairops' AS source, account, coalesce(shop_id, account) AS shop, id, number, customer_id, status,
       device_identifier AS device, issue_description AS issue, assigned_to_name AS technician,
       created_at, updated_at, total_cost AS total, closed_at AS source_closed_at
FROM repairops.tickets
WHERE deleted_at IS NULL
