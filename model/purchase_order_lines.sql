-- Purchase order lines, with the quantities ordered and received and the unit cost, from the sources that have purchase orders. Lines of deleted orders are left out.
SELECT * FROM part_purchase_order_lines
