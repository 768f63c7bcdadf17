-- Daily KPIs per shop: a source's own snapshots (basis 'source'), or the same measures computed from its tickets and invoices by day in the account's time zone (basis 'computed'; the rates it cannot give are NULL).
SELECT * FROM part_kpi_daily
