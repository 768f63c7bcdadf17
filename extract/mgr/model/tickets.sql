-- MGR tickets: the device is brand and model, the issue its issue type (else the short description), the technician's full name; the total is the ticket's invoice's (deleted invoices count as none). MGR gives no closing time.
SELECT 'mgr' AS source, t.account, t.account AS shop, t.id, t.ticket_ref AS number, t.customer_id, t.status_label AS status,
       nullif(concat_ws(' ', t.device_brand, t.device_model), '') AS device,
       coalesce(t.issue_type_label, t.description) AS issue,
       nullif(concat_ws(' ', t.technician_first_name, t.technician_last_name), '') AS technician,
       t.created_date AS created_at, t.last_updated AS updated_at,
       i.amount_total AS total, NULL::TIMESTAMPTZ AS source_closed_at
FROM mgr.tickets t
LEFT JOIN mgr.ticket_invoices i ON i.account = t.account AND i.id = t.invoice_id AND i.deleted_at IS NULL
WHERE t.deleted_at IS NULL
