-- Failed sign-ins no longer lock an account (anyone could lock anyone out by failing on purpose, and
-- only real accounts showed the lock). They are slowed down per address and per account and
-- address, outside the database, by the API.
ALTER TABLE users DROP COLUMN failed_sign_ins;
ALTER TABLE users DROP COLUMN locked_until;
