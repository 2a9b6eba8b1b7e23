-- The voucher rules that SQL needs in several places, written once. The Rust side names the same
-- rules in `passerelle_core::vouchers::status`; a test checks that both agree.

-- Expired with none of its time used: the voucher's validity has passed (whether or not the daily
-- run has already marked it `expired`) and not a minute was debited. Cancelled vouchers are not
-- counted here: they have their own count.
CREATE FUNCTION voucher_expired_unused(status text, minutes_left integer, minutes_total integer,
                                       valid_until date, today date)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN minutes_left = minutes_total
       AND (status = 'expired' OR (status IN ('issued', 'registered') AND valid_until < today));

-- The value of minutes at an hourly rate, in cents, rounded half up: the price of an attended
-- session on a statement and the face value of an accompaniment or a project pass. The Rust side
-- is `passerelle_core::money::minutes_at_rate`.
CREATE FUNCTION minutes_at_rate(minutes integer, rate_cents bigint)
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (minutes::bigint * rate_cents + 30) / 60;
