-- MGR products that hold stock (stock not NULL).
SELECT 'mgr' AS source, account, account AS shop, id, code AS sku, name, type AS category,
       stock AS on_hand, reorder_level, prices_cost_price AS cost, prices_retail_price AS price
FROM mgr.products WHERE deleted_at IS NULL AND stock IS NOT NULL
