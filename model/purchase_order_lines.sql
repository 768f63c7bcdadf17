-- Purchase order lines: MGR's, with the quantities ordered and received and the unit cost. RepairOps' API has no purchase orders. Lines of deleted orders are left out.
SELECT 'mgr' AS source, l.account, l.purchase_order_id, l.line_no, l.product_id, l.name, l.code AS sku,
       CAST(l.quantity_ordered AS DECIMAL(18,4)) AS quantity_ordered, CAST(l.quantity_received AS DECIMAL(18,4)) AS quantity_received,
       CAST(l.cost AS DECIMAL(18,2)) AS unit_cost, CAST(l.total AS DECIMAL(18,2)) AS total
FROM mgr.purchase_order_lines l
JOIN mgr.purchase_orders o ON o.account = l.account AND o.id = l.purchase_order_id AND o.deleted_at IS NULL
