-- Stock at or below its reorder level, every source (MGR products that declare a reorder level; RepairOps inventory): what to reorder, shortest first.
-- params: account
SELECT source, account, shop, sku, name, category, on_hand, reorder_level, cost, price
FROM main.inventory
WHERE reorder_level IS NOT NULL AND on_hand <= reorder_level
  AND (getvariable('accounts') IS NULL OR list_contains(getvariable('accounts'), account))
ORDER BY on_hand - reorder_level, source, account, sku;
