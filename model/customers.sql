-- Customers of both sources: name, contact, company, city, when created (created_day in the account's time zone). Deleted customers are left out.
WITH zones AS (
    SELECT account, coalesce(timezone, 'UTC') AS tz FROM meta.accounts
),
c AS (
    SELECT 'mgr' AS source, account, id,
           coalesce(name, nullif(concat_ws(' ', name_parts_first_name, name_parts_middle_name, name_parts_last_name), '')) AS name,
           email, coalesce(mobile, phone) AS phone, company, fulladdress_city AS city, created_date AS created_at
    FROM mgr.customers WHERE deleted_at IS NULL
    UNION ALL
    SELECT 'repairops', account, id, name, email, phone, NULL, NULL, created_at
    FROM repairops.customers WHERE deleted_at IS NULL
)
SELECT c.*, CAST(timezone(coalesce(z.tz, 'UTC'), c.created_at) AS DATE) AS created_day
FROM c LEFT JOIN zones z ON z.account = c.account
