-- RepairOps inventory items; the shop is the item's (else the organisation).
SELECT 'repairops' AS source, account, coalesce(shop_id, account) AS shop, id, sku, name, category,
       quantity_on_hand AS on_hand, reorder_level, cost, selling_price AS price
FROM repairops.inventory WHERE deleted_at IS NULL
