-- Customers of every source: name, contact, company, city, when created (created_day in the account's time zone). Deleted customers are left out.
WITH zones AS (
    SELECT account, coalesce(timezone, 'UTC') AS tz FROM meta.accounts
)
SELECT c.*, meta.local_day(z.tz, c.created_at) AS created_day
FROM part_customers c LEFT JOIN zones z ON z.account = c.account
