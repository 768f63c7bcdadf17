-- MGR purchase order lines, with the quantities ordered and received and the unit cost. Lines of deleted orders are left out.
SELECT 'mgr' AS source, l.account, l.purchase_order_id, l.line_no, l.product_id, l.name, l.code AS sku,
       l.quantity_ordered, l.quantity_received, l.cost AS unit_cost, l.total
FROM mgr.purchase_order_lines l
JOIN mgr.purchase_orders o ON o.account = l.account AND o.id = l.purchase_order_id AND o.deleted_at IS NULL
