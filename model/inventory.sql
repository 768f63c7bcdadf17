-- Stock of both sources: MGR products that hold stock (stock not NULL) and RepairOps inventory items: sku, name, on_hand, reorder_level, cost, price (selling), shop. Deleted items are left out.
SELECT 'mgr' AS source, account, account AS shop, id, code AS sku, name, type AS category,
       CAST(stock AS DECIMAL(18,4)) AS on_hand, CAST(reorder_level AS DECIMAL(18,4)) AS reorder_level,
       CAST(prices_cost_price AS DECIMAL(18,2)) AS cost, CAST(prices_retail_price AS DECIMAL(18,2)) AS price
FROM mgr.products WHERE deleted_at IS NULL AND stock IS NOT NULL
UNION ALL
SELECT 'repairops', account, coalesce(shop_id, account), id, sku, name, category,
       CAST(quantity_on_hand AS DECIMAL(18,4)), CAST(reorder_level AS DECIMAL(18,4)),
       CAST(cost AS DECIMAL(18,2)), CAST(selling_price AS DECIMAL(18,2))
FROM repairops.inventory WHERE deleted_at IS NULL
