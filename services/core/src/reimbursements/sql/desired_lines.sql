-- What every statement line of the month should be: each attended session and paid interview priced
-- (minutes_at_rate), capped by what is left of its voucher's face value, less what statements already
-- account for; a change to a month already approved becomes an adjustment line of this month.
-- $1: the month (its first day); $2: the tenant's time zone; $3: the tenant, named in every
-- predicate so that Citus keeps the statement on the tenant's shard.
INSERT INTO desired_lines
WITH sources AS (
    SELECT 'attendance'::text AS source_kind, a.id AS source_id, a.epn_id, s.scheme_id,
           v.id AS voucher_id, v.reference AS voucher_reference,
           (s.starts_at AT TIME ZONE $2)::date AS occurred_on, s.starts_at AS occurred_at,
           s.id AS session_id, s.module_number, a.voided_at IS NOT NULL AS voided,
           CASE WHEN a.voided_at IS NOT NULL THEN 0
                WHEN a.status = 'present' THEN a.minutes_debited
                WHEN coalesce((sv.rules ->> 'pay_absences')::boolean, false) THEN s.duration_minutes
                ELSE 0 END AS minutes,
           (sv.rules ->> 'hourly_rate_cents')::bigint AS rate_cents, v.face_value_cents
    FROM attendances a
    JOIN sessions s ON s.tenant_id = a.tenant_id AND s.id = a.session_id
    JOIN vouchers v ON v.tenant_id = a.tenant_id AND v.id = a.voucher_id
    JOIN scheme_versions sv ON sv.tenant_id = v.tenant_id AND sv.scheme_id = v.scheme_id AND sv.version = v.rules_version
    WHERE a.tenant_id = $3 AND s.starts_at < ($1::date + interval '1 month')::timestamp AT TIME ZONE $2
    UNION ALL
    SELECT 'interview', r.id, r.epn_id, v.scheme_id, v.id, v.reference,
           r.interview_on, r.interview_on::timestamp AT TIME ZONE $2, NULL, NULL, false,
           coalesce(r.interview_minutes, 0), (sv.rules ->> 'interview_fee_cents')::bigint, v.face_value_cents
    FROM registrations r
    JOIN vouchers v ON v.tenant_id = r.tenant_id AND v.id = r.voucher_id
    JOIN scheme_versions sv ON sv.tenant_id = v.tenant_id AND sv.scheme_id = v.scheme_id AND sv.version = v.rules_version
    WHERE r.tenant_id = $3 AND r.interview_on IS NOT NULL AND r.interview_on < $1::date + interval '1 month'
      AND (sv.rules ->> 'interview_fee_cents')::bigint > 0),
priced AS (
    SELECT *, CASE WHEN source_kind = 'attendance' THEN minutes_at_rate(minutes, rate_cents)
                   WHEN voided THEN 0 ELSE rate_cents END AS raw_cents
    FROM sources),
owed AS (
    SELECT *, greatest(0, least(raw_cents,
               face_value_cents - (sum(raw_cents) OVER by_voucher - raw_cents))) AS owed_cents
    FROM priced
    WINDOW by_voucher AS (PARTITION BY voucher_id ORDER BY occurred_at, source_kind, source_id
                          ROWS UNBOUNDED PRECEDING)),
accounted AS (
    SELECT l.source_kind, l.source_id, sum(l.amount_cents) AS cents, sum(l.minutes) AS minutes
    FROM statement_lines l JOIN statements st ON st.tenant_id = l.tenant_id AND st.id = l.statement_id
    WHERE l.tenant_id = $3 AND NOT (st.status = 'draft' AND st.month <= $1)
    GROUP BY l.source_kind, l.source_id),
placed AS (
    SELECT o.*, date_trunc('month', o.occurred_on)::date AS occurred_month,
           o.owed_cents - coalesce(a.cents, 0) AS delta_cents,
           o.minutes - coalesce(a.minutes, 0)::integer AS delta_minutes,
           a.cents IS NULL AS never_accounted,
           coalesce(own.status, 'none') AS own_status,
           coalesce(cur.status, 'none') AS current_status
    FROM owed o
    LEFT JOIN accounted a ON a.source_kind = o.source_kind AND a.source_id = o.source_id
    LEFT JOIN statements own ON own.tenant_id = $3 AND own.epn_id = o.epn_id AND own.scheme_id = o.scheme_id
                            AND own.month = date_trunc('month', o.occurred_on)::date
    LEFT JOIN statements cur ON cur.tenant_id = $3 AND cur.epn_id = o.epn_id AND cur.scheme_id = o.scheme_id AND cur.month = $1)
SELECT epn_id, scheme_id, occurred_month AS target_month, source_kind AS kind, source_kind, source_id,
       occurred_on, occurred_at, session_id, module_number, voucher_id, voucher_reference,
       minutes, rate_cents, delta_cents AS amount_cents, NULL::date AS adjusts_month
FROM placed
WHERE own_status IN ('draft', 'none')
  AND (delta_cents <> 0 OR (never_accounted AND NOT voided))
UNION ALL
SELECT epn_id, scheme_id, $1::date, 'adjustment', source_kind, source_id,
       occurred_on, occurred_at, session_id, module_number, voucher_id, voucher_reference,
       delta_minutes::integer, rate_cents, delta_cents, occurred_month
FROM placed
WHERE own_status IN ('approved', 'paid') AND occurred_month < $1
  AND current_status IN ('draft', 'none') AND delta_cents <> 0
