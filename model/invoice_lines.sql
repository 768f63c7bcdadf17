-- Invoice lines of every source (kind 'item' for a sold item, 'part' and 'labor' where the source tells them apart: for labor, quantity is the hours and unit_price the rate). unit_cost is what the shop paid for the item where the source's catalogue says. Lines of deleted invoices are left out.
SELECT * FROM part_invoice_lines
