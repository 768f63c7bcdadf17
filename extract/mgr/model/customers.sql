-- MGR customers: the name, else its parts; mobile before phone; the city of the full address.
SELECT 'mgr' AS source, account, id,
       coalesce(name, nullif(concat_ws(' ', name_parts_first_name, name_parts_middle_name, name_parts_last_name), '')) AS name,
       email, coalesce(mobile, phone) AS phone, company, fulladdress_city AS city, created_date AS created_at
FROM mgr.customers WHERE deleted_at IS NULL
