//! Turns PostgreSQL constraint violations into errors that name the problem for the caller.

use crate::error::{Error, FieldError};
use crate::refusal::Refusal;

/// What a violated constraint means to the person who sent the request: the field at fault and
/// a sentence. Every named constraint of the schema that a user can trip belongs here.
const KNOWN: &[(&str, &str, &str)] = &[
    (
        "tenants_slug_format",
        "slug",
        "lowercase letters, digits and dashes, 2 to 63 characters",
    ),
    (
        "tenants_name_length",
        "name",
        "between 1 and 200 characters",
    ),
    ("tenants_kind_known", "kind", "departement or region"),
    (
        "tenants_insee_code_format",
        "insee_code",
        "an INSEE département or région code such as 46, 2A or 84",
    ),
    (
        "tenants_reference_prefix_format",
        "reference_prefix",
        "2 to 5 capital letters",
    ),
    (
        "identity_provider_domains_prescriber_fkey",
        "email_domains",
        "no such prescriber organisation in this tenant",
    ),
    (
        "tenants_display_name_length",
        "display_name",
        "at most 120 characters",
    ),
    (
        "users_display_name_length",
        "display_name",
        "between 1 and 200 characters",
    ),
    ("users_role_known", "role", "not a tenant role"),
    (
        "users_prescriber_fkey",
        "prescriber_id",
        "no such prescriber organisation in this tenant",
    ),
    ("users_epn_fkey", "epn_id", "no such EPN in this tenant"),
    (
        "users_funder_fkey",
        "funder_id",
        "no such funder in this tenant",
    ),
    (
        "users_funder_binding",
        "funder_id",
        "only a user with the funder role belongs to a funder",
    ),
    (
        "users_prescriber_binding",
        "prescriber_id",
        "required for the prescriber role and only for it",
    ),
    (
        "users_epn_binding",
        "epn_id",
        "required for the epn role and only for it",
    ),
    (
        "api_tokens_user_fkey",
        "user_id",
        "no such user in this tenant",
    ),
    (
        "api_tokens_name_length",
        "name",
        "between 1 and 100 characters",
    ),
    (
        "prescribers_name_length",
        "name",
        "between 1 and 200 characters",
    ),
    (
        "prescribers_kind_known",
        "kind",
        "not a known kind of prescriber",
    ),
    ("prescribers_siret_format", "siret", "14 digits"),
    ("epns_name_length", "nom", "between 1 and 200 characters"),
    (
        "epns_pivot_format",
        "pivot",
        "a SIRET (14 digits) or an RNA number (W and 9 characters)",
    ),
    ("epns_postal_code_format", "code_postal", "5 digits"),
    (
        "epns_commune_format",
        "code_insee",
        "a 5-character INSEE commune code",
    ),
    ("epns_latitude_range", "latitude", "between -90 and 90"),
    ("epns_longitude_range", "longitude", "between -180 and 180"),
    ("epns_bic_format", "bic", "8 or 11 characters"),
    (
        "schemes_code_format",
        "code",
        "lowercase letters, digits and dashes",
    ),
    (
        "schemes_name_length",
        "name",
        "between 1 and 200 characters",
    ),
    ("schemes_status_known", "status", "draft, active or closed"),
    (
        "scheme_versions_scheme_fkey",
        "scheme_id",
        "no such scheme in this tenant",
    ),
    (
        "scheme_modules_title_length",
        "title",
        "between 1 and 300 characters",
    ),
    (
        "schemes_public_funding_fkey",
        "prescriber_id",
        "no such prescriber organisation in this tenant",
    ),
    (
        "scheme_modules_description_length",
        "modules.description",
        "between 1 and 1000 characters",
    ),
    (
        "scheme_modules_family_length",
        "family",
        "between 1 and 100 characters",
    ),
    (
        "allocations_period_order",
        "period_end",
        "must not be before period_start",
    ),
    (
        "allocations_within_quantity",
        "quantity",
        "cannot be less than the vouchers already issued from it",
    ),
    (
        "allocations_quantity_positive",
        "quantity",
        "must not be negative",
    ),
    (
        "allocations_prescriber_fkey",
        "prescriber_id",
        "no such prescriber organisation in this tenant",
    ),
    (
        "allocations_scheme_fkey",
        "scheme_id",
        "no such scheme in this tenant",
    ),
    (
        "beneficiaries_commune_format",
        "commune_insee",
        "a 5-character INSEE commune code such as 46102 or 2A004",
    ),
    (
        "beneficiaries_birth_year_range",
        "birth_year",
        "a year between 1900 and 2100",
    ),
    (
        "beneficiaries_category_known",
        "public_category",
        "not a known public category",
    ),
    (
        "beneficiaries_prescriber_fkey",
        "prescriber_id",
        "no such prescriber organisation in this tenant",
    ),
    (
        "vouchers_beneficiary_fkey",
        "beneficiary_id",
        "no such beneficiary in this tenant",
    ),
    (
        "vouchers_nominative",
        "beneficiary_id",
        "a voucher is nominative: its beneficiary cannot change",
    ),
    (
        "vouchers_minutes_within",
        "minutes_left",
        "the voucher's balance cannot go below zero",
    ),
    (
        "epn_schemes_epn_fkey",
        "epn_id",
        "no such EPN in this tenant",
    ),
    (
        "epn_schemes_scheme_fkey",
        "scheme_id",
        "no such scheme in this tenant",
    ),
    (
        "epn_modules_module_fkey",
        "modules",
        "not a module of this scheme",
    ),
    (
        "registrations_autonomy_known",
        "interview.autonomy_level",
        "none, beginner, intermediate or autonomous",
    ),
    (
        "registrations_epn_fkey",
        "epn_id",
        "no such EPN in this tenant",
    ),
    (
        "sessions_module_fkey",
        "module_number",
        "not a module of this scheme",
    ),
    (
        "sessions_scheme_fkey",
        "scheme_id",
        "no such scheme in this tenant",
    ),
    (
        "sessions_duration_positive",
        "duration_minutes",
        "between 1 and 1440",
    ),
    (
        "sessions_capacity_positive",
        "capacity",
        "between 1 and 500",
    ),
    (
        "sessions_status_known",
        "status",
        "planned, held or cancelled",
    ),
    (
        "attendances_status_known",
        "status",
        "present, absent or excused",
    ),
    (
        "attendance_competences_competence_fkey",
        "competences.code",
        "not a competence of this referential",
    ),
    (
        "attendance_competences_level_known",
        "competences.level",
        "discovered, practised or acquired",
    ),
    (
        "accompaniment_scheme_fkey",
        "scheme_id",
        "no such scheme in this tenant",
    ),
    (
        "accompaniment_epn_fkey",
        "epn_id",
        "no such EPN in this tenant",
    ),
    (
        "accompaniment_prescriber_fkey",
        "prescriber_id",
        "no such prescriber organisation in this tenant",
    ),
    (
        "accompaniment_postal_code_format",
        "postal_code",
        "a French postal code of 5 digits",
    ),
    (
        "accompaniment_commune_name_length",
        "commune_name",
        "between 1 and 100 characters",
    ),
    (
        "accompaniment_beneficiary_fkey",
        "beneficiary_id",
        "no such beneficiary in this tenant",
    ),
    (
        "projects_title_length",
        "title",
        "between 1 and 200 characters",
    ),
    (
        "projects_aim_length",
        "aim",
        "between 1 and 2000 characters",
    ),
    (
        "projects_planned_sessions_range",
        "planned_sessions",
        "between 1 and 100",
    ),
    (
        "projects_planned_minutes_range",
        "planned_minutes",
        "between 1 and 100000",
    ),
    (
        "projects_scheme_fkey",
        "scheme_id",
        "no such scheme in this tenant",
    ),
    ("projects_epn_fkey", "epn_id", "no such EPN in this tenant"),
    (
        "project_members_beneficiary_fkey",
        "members",
        "no such beneficiary in this tenant",
    ),
    (
        "voucher_orientations_kind_known",
        "kind",
        "one of pix, pcie, clea_numerique, training_body, other_scheme, no_orientation",
    ),
    (
        "voucher_orientations_note_length",
        "note",
        "at most 1000 characters",
    ),
    (
        "voucher_orientations_tenant_id_epn_id_fkey",
        "epn_id",
        "no such EPN in this tenant",
    ),
    (
        "voucher_orientations_tenant_id_voucher_id_fkey",
        "reference",
        "no such voucher in this tenant",
    ),
    (
        "funders_name_length",
        "name",
        "between 1 and 200 characters",
    ),
    (
        "funders_kind_known",
        "kind",
        "one of european_fund, state, family_allowance_fund, region, department, commune, other",
    ),
    ("funders_siret_format", "siret", "14 digits"),
    (
        "scheme_funding_lines_funder_fkey",
        "funder_id",
        "no such funder in this tenant",
    ),
    (
        "scheme_fundings_scheme_fkey",
        "scheme_id",
        "no such scheme in this tenant",
    ),
    (
        "schemes_referential_code_fkey",
        "referential",
        "no such competency referential (available: crcn)",
    ),
];

/// The uniqueness and exclusion rules of the schema a user can trip, each with its refusal.
const TAKEN: &[(&str, Refusal)] = &[
    ("tenants_slug_key", Refusal::TenantSlugTaken),
    ("tenants_kind_insee_code_key", Refusal::TenantTerritoryTaken),
    (
        "tenants_reference_prefix_key",
        Refusal::ReferencePrefixTaken,
    ),
    ("users_email_key", Refusal::UserEmailTaken),
    ("epns_source_key", Refusal::EpnSourceTaken),
    ("epns_unsourced_key", Refusal::EpnSourceTaken),
    ("schemes_code_key", Refusal::SchemeCodeTaken),
    ("scheme_versions_effective_key", Refusal::RulesDateTaken),
    ("funders_name_key", Refusal::FunderNameTaken),
    ("scheme_fundings_effective_key", Refusal::FundingDateTaken),
    ("scheme_modules_pkey", Refusal::ModuleNumberTaken),
    ("allocations_no_overlap", Refusal::AllocationOverlaps),
    ("vouchers_reference_key", Refusal::ReferenceTaken),
    ("registrations_one_active", Refusal::AlreadyRegistered),
    ("attendances_once", Refusal::AlreadyRecorded),
];

const UNIQUE_VIOLATION: &str = "23505";
const FOREIGN_KEY_VIOLATION: &str = "23503";
const CHECK_VIOLATION: &str = "23514";
const EXCLUSION_VIOLATION: &str = "23P01";
const NOT_NULL_VIOLATION: &str = "23502";

/// The constraint names that have a message for users.
pub fn known() -> impl Iterator<Item = &'static str> {
    KNOWN
        .iter()
        .map(|(name, _, _)| *name)
        .chain(TAKEN.iter().map(|(name, _)| *name))
}

/// The schema's name of the violated constraint. On a Citus cluster the error comes from a
/// shard: its constraint field is empty, and the message names the shard's copy of the
/// constraint, the schema's name followed by `_<shard id>`.
fn constraint_name(reported: Option<&str>, message: &str) -> String {
    if let Some(name) = reported.filter(|name| !name.is_empty()) {
        return name.to_owned();
    }
    let Some(quoted) = message
        .split_once("constraint \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(name, _)| name)
    else {
        return String::new();
    };
    let is_known = |name: &str| known().any(|known| known == name);
    match quoted.rsplit_once('_') {
        Some((schema_name, shard))
            if !is_known(quoted)
                && shard.bytes().all(|b| b.is_ascii_digit())
                && !shard.is_empty() =>
        {
            schema_name.to_owned()
        }
        _ => quoted.to_owned(),
    }
}

pub(crate) fn classify(err: sqlx::Error) -> Error {
    let Some(db) = err.as_database_error() else {
        return Error::Database(err);
    };
    let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
    let constraint = constraint_name(db.constraint(), db.message());
    if [UNIQUE_VIOLATION, EXCLUSION_VIOLATION].contains(&code.as_str()) {
        // An EXCLUDE constraint refuses a row that overlaps another (an allocation's period).
        let refusal = TAKEN
            .iter()
            .find(|(name, _)| *name == constraint)
            .map(|(_, refusal)| refusal.clone())
            .unwrap_or(Refusal::Duplicate { constraint });
        return Error::Refused(refusal);
    }
    let known = KNOWN.iter().find(|(name, _, _)| *name == constraint);
    match (code.as_str(), known) {
        (FOREIGN_KEY_VIOLATION | CHECK_VIOLATION, Some((_, field, message))) => {
            Error::Invalid(vec![FieldError::new(*field, *message)])
        }
        (FOREIGN_KEY_VIOLATION, None) => Error::Invalid(vec![FieldError::new(
            constraint,
            "refers to something that does not exist in this tenant",
        )]),
        (CHECK_VIOLATION, None) => {
            Error::Invalid(vec![FieldError::new(constraint, "value not allowed")])
        }
        (NOT_NULL_VIOLATION, _) => {
            let column = db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .and_then(|e| e.column())
                .unwrap_or("unknown")
                .to_owned();
            Error::Invalid(vec![FieldError::new(column, "is required")])
        }
        _ => Error::Database(err),
    }
}

#[cfg(test)]
mod tests {
    use super::constraint_name;

    #[test]
    fn a_shards_constraint_is_known_by_the_schemas_name() {
        assert_eq!(
            constraint_name(
                None,
                "duplicate key value violates unique constraint \"users_email_key_103364\""
            ),
            "users_email_key"
        );
        assert_eq!(
            constraint_name(
                Some(""),
                "insert or update on table \"allocations_102108\" violates foreign key constraint \"users_prescriber_fkey_102108\""
            ),
            "users_prescriber_fkey"
        );
        assert_eq!(
            constraint_name(Some("users_epn_fkey"), "anything"),
            "users_epn_fkey"
        );
        assert_eq!(constraint_name(None, "no constraint named"), "");
    }
}
