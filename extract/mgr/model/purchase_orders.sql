-- MGR purchase orders.
SELECT 'mgr' AS source, account, id, po_number AS number, supplier_id, supplier_name AS supplier, status,
       created_date AS ordered_at, expected_date AS expected_at, received_date AS received_at,
       amount_subtotal AS subtotal, amount_tax AS tax, amount_shipping AS shipping, amount_total AS total
FROM mgr.purchase_orders
WHERE deleted_at IS NULL
