-- RepairOps ticket parts (kind 'part') and labor (kind 'labor': quantity the hours, unit_price the rate); unit_cost is the inventory item's cost, by id, else by SKU. Lines of deleted tickets are left out.
WITH items AS (
    SELECT account, id, cost FROM repairops.inventory WHERE deleted_at IS NULL
),
skus AS (
    SELECT account, sku, min(cost) AS cost FROM repairops.inventory WHERE deleted_at IS NULL AND sku IS NOT NULL GROUP BY ALL
),
lines AS (
    SELECT p.account, p.ticket_id AS invoice_id, 'part' AS kind, p.line_no, p.name, p.sku, p.inventory_id AS product_id, p.quantity, p.unit_cost AS unit_price, p.total
    FROM repairops.ticket_parts p JOIN repairops.tickets t ON t.account = p.account AND t.id = p.ticket_id AND t.deleted_at IS NULL
    UNION ALL
    SELECT l.account, l.ticket_id, 'labor', l.line_no, coalesce('Labor: ' || l.technician, 'Labor'), NULL, NULL, l.hours, l.rate, l.total
    FROM repairops.ticket_labor l JOIN repairops.tickets t ON t.account = l.account AND t.id = l.ticket_id AND t.deleted_at IS NULL
)
SELECT 'repairops' AS source, l.account, l.invoice_id, l.kind, l.line_no, l.name, l.sku, l.product_id,
       l.quantity, l.unit_price, coalesce(i.cost, s.cost) AS unit_cost, l.total
FROM lines l
LEFT JOIN items i ON i.account = l.account AND i.id = l.product_id
LEFT JOIN skus s ON l.product_id IS NULL AND s.account = l.account AND s.sku = l.sku
