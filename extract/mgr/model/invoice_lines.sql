-- MGR ticket and POS invoice lines (kind 'item'); unit_cost is the product's cost price, by product id, else by its code.
WITH products AS (
    SELECT account, id, prices_cost_price AS cost FROM mgr.products WHERE deleted_at IS NULL
),
codes AS (
    SELECT account, code, min(prices_cost_price) AS cost FROM mgr.products WHERE deleted_at IS NULL AND code IS NOT NULL GROUP BY ALL
),
lines AS (
    SELECT l.account, l.ticket_invoice_id AS invoice_id, l.line_no, l.name, l.code AS sku, l.product_id, l.quantity, l.price AS unit_price, l.total
    FROM mgr.ticket_invoice_lines l JOIN mgr.ticket_invoices i ON i.account = l.account AND i.id = l.ticket_invoice_id AND i.deleted_at IS NULL
    UNION ALL
    SELECT l.account, l.pos_invoice_id, l.line_no, l.name, l.code, l.product_id, l.quantity, l.price, l.total
    FROM mgr.pos_invoice_lines l JOIN mgr.pos_invoices i ON i.account = l.account AND i.id = l.pos_invoice_id AND i.deleted_at IS NULL
)
SELECT 'mgr' AS source, l.account, l.invoice_id, 'item' AS kind, l.line_no, l.name, l.sku, l.product_id,
       l.quantity, l.unit_price, coalesce(p.cost, c.cost) AS unit_cost, l.total
FROM lines l
LEFT JOIN products p ON p.account = l.account AND p.id = l.product_id
LEFT JOIN codes c ON l.product_id IS NULL AND c.account = l.account AND c.code = l.sku
