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
