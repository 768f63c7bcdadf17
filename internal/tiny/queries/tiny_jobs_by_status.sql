-- Tiny jobs per account and status (a query of Tiny's own, to show that a source ships its queries).
SELECT account, status, count(*) AS jobs FROM tiny.jobs WHERE deleted_at IS NULL GROUP BY ALL ORDER BY account, status;
