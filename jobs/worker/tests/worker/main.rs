//! Worker tests: jobs pushed to a real Redis queue (a random queue name per test) and run by a real
//! apalis worker against a database of their own. Each test ends by checking that its queue holds
//! no job left behind.

mod purge_idempotency_keys;
