-- Invoice lines of both sources: MGR ticket and POS invoice lines (kind 'item'); RepairOps ticket parts (kind 'part') and labor (kind 'labor': quantity the hours, unit_price the rate). unit_cost is what the shop paid for the item where the catalogue says (MGR products' cost price, RepairOps inventory cost, by id or SKU). Lines of deleted invoices are left out.
WITH mgr_products AS (
    SELECT account, id, prices_cost_price AS cost FROM mgr.products WHERE deleted_at IS NULL
),
mgr_codes AS (
    SELECT account, code, min(prices_cost_price) AS cost FROM mgr.products WHERE deleted_at IS NULL AND code IS NOT NULL GROUP BY ALL
),
ro_inventory AS (
    SELECT account, id, cost FROM repairops.inventory WHERE deleted_at IS NULL
),
ro_skus AS (
    SELECT account, sku, min(cost) AS cost FROM repairops.inventory WHERE deleted_at IS NULL AND sku IS NOT NULL GROUP BY ALL
),
lines AS (
    SELECT 'mgr' AS source, l.account, l.ticket_invoice_id AS invoice_id, 'item' AS kind, l.line_no, l.name, l.code AS sku, l.product_id,
           l.quantity, l.price AS unit_price, l.total
    FROM mgr.ticket_invoice_lines l JOIN mgr.ticket_invoices i ON i.account = l.account AND i.id = l.ticket_invoice_id AND i.deleted_at IS NULL
    UNION ALL
    SELECT 'mgr', l.account, l.pos_invoice_id, 'item', l.line_no, l.name, l.code, l.product_id,
           l.quantity, l.price, l.total
    FROM mgr.pos_invoice_lines l JOIN mgr.pos_invoices i ON i.account = l.account AND i.id = l.pos_invoice_id AND i.deleted_at IS NULL
    UNION ALL
    SELECT 'repairops', p.account, p.ticket_id, 'part', p.line_no, p.name, p.sku, p.inventory_id,
           p.quantity, p.unit_cost, p.total
    FROM repairops.ticket_parts p JOIN repairops.tickets t ON t.account = p.account AND t.id = p.ticket_id AND t.deleted_at IS NULL
    UNION ALL
    SELECT 'repairops', l.account, l.ticket_id, 'labor', l.line_no, coalesce('Labor: ' || l.technician, 'Labor'), NULL, NULL,
           l.hours, l.rate, l.total
    FROM repairops.ticket_labor l JOIN repairops.tickets t ON t.account = l.account AND t.id = l.ticket_id AND t.deleted_at IS NULL
)
SELECT l.source, l.account, l.invoice_id, l.kind, l.line_no, l.name, l.sku, l.product_id,
       CAST(l.quantity AS DECIMAL(18,4)) AS quantity, CAST(l.unit_price AS DECIMAL(18,2)) AS unit_price,
       CAST(coalesce(mp.cost, mc.cost, ri.cost, rs.cost) AS DECIMAL(18,2)) AS unit_cost,
       CAST(l.total AS DECIMAL(18,2)) AS total
FROM lines l
LEFT JOIN mgr_products mp ON l.source = 'mgr' AND mp.account = l.account AND mp.id = l.product_id
LEFT JOIN mgr_codes mc ON l.source = 'mgr' AND l.product_id IS NULL AND mc.account = l.account AND mc.code = l.sku
LEFT JOIN ro_inventory ri ON l.source = 'repairops' AND ri.account = l.account AND ri.id = l.product_id
LEFT JOIN ro_skus rs ON l.source = 'repairops' AND l.product_id IS NULL AND rs.account = l.account AND rs.sku = l.sku
