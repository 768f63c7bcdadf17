-- Parts margin, every source, per shop and month (in the shop's time zone): from the invoice lines whose cost the catalogue gives (MGR products' cost price; RepairOps inventory by id or SKU), sales, cost and 1 - cost/sales (basis 'lines'); where no line's cost is known, RepairOps' own daily parts_margin weighted by revenue (basis 'kpi').
-- params: from, to, account
WITH lines AS (
    SELECT l.source, l.account, i.created_day AS day, l.total, l.quantity * l.unit_cost AS cost
    FROM main.invoice_lines l
    JOIN main.invoices i ON i.source = l.source AND i.account = l.account AND i.id = l.invoice_id
    WHERE l.kind IN ('item', 'part') AND l.unit_cost IS NOT NULL AND l.total IS NOT NULL
),
from_lines AS (
    SELECT source, account, account AS shop, strftime(day, '%Y-%m') AS month,
           sum(total) AS sales, CAST(sum(cost) AS DECIMAL(18,2)) AS cost,
           round(1 - sum(cost) / nullif(sum(total), 0), 4) AS margin, 'lines' AS basis
    FROM lines
    WHERE (getvariable('from') IS NULL OR day >= getvariable('from'))
      AND (getvariable('to') IS NULL OR day <= getvariable('to'))
    GROUP BY ALL
),
from_kpis AS (
    SELECT source, account, shop, strftime(date, '%Y-%m') AS month,
           NULL::DECIMAL(38,2) AS sales, NULL::DECIMAL(18,2) AS cost,
           round(sum(parts_margin * revenue) / nullif(sum(revenue) FILTER (WHERE parts_margin IS NOT NULL), 0), 4) AS margin, 'kpi' AS basis
    FROM main.kpi_daily
    WHERE basis = 'source' AND parts_margin IS NOT NULL
      AND (getvariable('from') IS NULL OR date >= getvariable('from'))
      AND (getvariable('to') IS NULL OR date <= getvariable('to'))
      AND NOT EXISTS (SELECT 1 FROM lines WHERE lines.source = main.kpi_daily.source AND lines.account = main.kpi_daily.account)
    GROUP BY ALL
)
SELECT * FROM (SELECT * FROM from_lines UNION ALL SELECT * FROM from_kpis)
WHERE getvariable('accounts') IS NULL OR list_contains(getvariable('accounts'), account)
ORDER BY month DESC, source, account, shop;
