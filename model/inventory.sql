-- Stock of every source: sku, name, on_hand, reorder_level, cost, price (selling), shop. Deleted items are left out.
SELECT * FROM part_inventory
