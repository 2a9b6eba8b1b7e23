//! The tenant admin's schemes: create one from a preset, open or close it, change its main rules
//! from a date on (a new version; vouchers keep theirs), and edit its modules (`catalogue.rs`).

use chrono::NaiveDate;
use passerelle_core::Error;
use passerelle_core::emails::french;
use passerelle_core::pagination::PageRequest;
use passerelle_core::reimbursements::export::euros;
use passerelle_core::schemes::rules::{SchemeRules, Validity};
use passerelle_core::schemes::{self, NewScheme, SchemeStatus, presets};
use poem::http::StatusCode;
use poem::web::{Data, Form, Path};
use poem::{Request, handler};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::forms::{Choice, euros_to_cents, option};
use super::french::{FormErrors, FormRefusal};
use super::{OrBack, PageResult, Portal, failed, see_other};
use crate::access;
use crate::state::AppState;

fn validity_fr(validity: &Validity) -> String {
    match validity {
        Validity::MonthsAfterIssue { months } => format!("{months} mois après l’émission"),
        Validity::FixedEndDate { until } => format!("jusqu’au {}", french::long_date(*until)),
    }
}

/// The form's values for a scheme's rules, as a person reads them (euros, hours).
fn rules_form(rules: &SchemeRules) -> RulesForm {
    RulesForm {
        face_value_cents: euros(rules.face_value_cents),
        voucher_hours: (rules.voucher_minutes / 60).to_string(),
        session_minutes: rules.session_minutes.to_string(),
        modules_to_choose: rules.modules_to_choose.to_string(),
        hourly_rate_cents: euros(rules.hourly_rate_cents),
        validity_months: match rules.validity {
            Validity::MonthsAfterIssue { months } => months.to_string(),
            Validity::FixedEndDate { .. } => String::new(),
        },
        ..RulesForm::default()
    }
}

/// A scheme's rules in force, as its page and the list read them.
#[derive(Serialize)]
struct RulesSummary {
    value: String,
    hours: String,
    session: String,
    validity: String,
    modules_to_choose: u32,
    hourly_rate: String,
    interview: String,
    fee_cap: String,
    /// Validity counted in months from issue (rather than a fixed end date).
    months_validity: bool,
}

/// A scheme, what can be done with it, and its rules in force.
#[derive(Serialize)]
struct SchemeSummary {
    id: Uuid,
    name: String,
    code: String,
    status: &'static str,
    may_open: bool,
    may_close: bool,
    may_change: bool,
    rules: Option<RulesSummary>,
    module_count: usize,
}

fn summary(detail: &schemes::SchemeDetail) -> SchemeSummary {
    let rules = detail.current.as_ref().map(|v| &v.rules.0);
    SchemeSummary {
        id: detail.scheme.id,
        name: detail.scheme.name.clone(),
        code: detail.scheme.code.clone(),
        status: passerelle_core::labels::scheme_status(detail.scheme.status),
        may_open: detail.scheme.status.can_become(SchemeStatus::Active),
        may_close: detail.scheme.status.can_become(SchemeStatus::Closed),
        may_change: detail.scheme.status != SchemeStatus::Closed,
        rules: rules.map(|r| RulesSummary {
            value: format!("{} €", euros(r.face_value_cents)),
            hours: french::duration(i32::try_from(r.voucher_minutes).unwrap_or(i32::MAX)),
            session: french::duration(i32::try_from(r.session_minutes).unwrap_or(i32::MAX)),
            validity: validity_fr(&r.validity),
            modules_to_choose: r.modules_to_choose,
            hourly_rate: format!("{} €", euros(r.hourly_rate_cents)),
            interview: if r.interview_required {
                format!("obligatoire, {} minutes", r.interview_minutes)
            } else {
                "facultatif".to_owned()
            },
            fee_cap: format!("{} €", euros(r.participation_fee_cap_cents)),
            months_validity: matches!(r.validity, Validity::MonthsAfterIssue { .. }),
        }),
        module_count: detail.modules.len(),
    }
}

/// The schemes' page, with the form to create one from a preset.
#[derive(Serialize)]
struct SchemesView<'a> {
    schemes: Vec<SchemeSummary>,
    presets: Vec<Choice>,
    form: &'a NewSchemeForm,
    errors: FormErrors,
    notice: Option<&'a str>,
}

/// A version of the rules, from its first day.
#[derive(Serialize)]
struct VersionRow {
    version: i32,
    from: String,
}

/// A module of the catalogue, with what its edit form shows: its texts, or what was typed when
/// the form was refused.
#[derive(Serialize)]
struct ModuleRow {
    number: i32,
    title: String,
    family: String,
    form: super::catalogue::ModuleForm,
    /// Open, with the refusal next to its fields, when this module's form was just refused.
    errors: Option<FormErrors>,
}

#[derive(Serialize)]
struct FundingView {
    prescribers: Vec<super::forms::Choice>,
    chosen: String,
}

/// One scheme's page: its versions, modules, and the form for new rules.
#[derive(Serialize)]
struct SchemeView<'a> {
    scheme: SchemeSummary,
    versions: Vec<VersionRow>,
    modules: Vec<ModuleRow>,
    /// The form to add a module: empty, or as typed when it was refused.
    new_module: ModuleRow,
    /// For a scheme with the personalised accompaniment: the prescribers that may fund the
    /// requests from the public form, and the one designated.
    funding: Option<FundingView>,
    /// What the rules form shows: what was typed, or the rules in force.
    form: Option<RulesForm>,
    today: String,
    errors: FormErrors,
    notice: Option<&'a str>,
}

async fn schemes_page(
    state: &AppState,
    portal: &Portal,
    status: StatusCode,
    new: &NewSchemeForm,
    errors: &FormRefusal,
    notice: Option<&str>,
) -> PageResult {
    let tenant_id = portal.tenant.id;
    let loaded = async {
        let found =
            schemes::list(&state.db, tenant_id, PageRequest::parse(Some(100), None)?).await?;
        let mut details = Vec::new();
        for scheme in found.items {
            details.push(schemes::get(&state.db, tenant_id, scheme.id).await?);
        }
        Ok::<_, Error>(details)
    }
    .await;
    let details = loaded?;
    let presets: Vec<Choice> = presets::ALL
        .iter()
        .filter_map(|code| presets::get(code))
        .map(|p| option(p.code, p.name))
        .collect();
    Ok(portal.page(
        status,
        "schemes.html",
        SchemesView {
            schemes: details.iter().map(summary).collect(),
            presets,
            form: new,
            errors: errors.to_view(),
            notice,
        },
    ))
}

/// What a scheme's page shows besides the scheme: a form refused (the rules', or a module's, with
/// what was typed and why), or a notice after a change.
#[derive(Default)]
pub(super) struct SchemePageState<'a> {
    pub rules: Option<(&'a RulesForm, &'a FormRefusal)>,
    pub module_edit: Option<&'a super::catalogue::ModuleEdit>,
    pub notice: Option<&'a str>,
}

pub(super) async fn scheme_page(
    state: &AppState,
    portal: &Portal,
    id: Uuid,
    status: StatusCode,
    shown: SchemePageState<'_>,
) -> PageResult {
    let SchemePageState {
        rules: refused_rules,
        module_edit,
        notice,
    } = shown;
    let (form, errors) = match refused_rules {
        Some((form, errors)) => (Some(form), errors),
        None => (None, &FormRefusal::default()),
    };
    let back = format!("{}/dispositifs", portal.path());
    let detail = schemes::get(&state.db, portal.tenant.id, id)
        .await
        .or_back(&back, "Revenir aux dispositifs")?;
    let values = match form {
        Some(form) => Some(form.clone()),
        None => detail.current.as_ref().map(|v| rules_form(&v.rules.0)),
    };
    let accompaniment = detail
        .current
        .as_ref()
        .is_some_and(|v| v.rules.0.delivery_modes.accompaniment_minutes.is_some());
    let funding = if accompaniment {
        let prescribers = super::admin::all(|page| {
            passerelle_core::prescribers::list(&state.db, portal.tenant.id, page)
        })
        .await?;
        Some(FundingView {
            prescribers: prescribers
                .into_iter()
                .map(|p| option(p.id, p.name))
                .collect(),
            chosen: detail
                .scheme
                .public_requests_funded_by
                .map(|id| id.to_string())
                .unwrap_or_default(),
        })
    } else {
        None
    };
    Ok(portal.page(
        status,
        "scheme.html",
        SchemeView {
            scheme: summary(&detail),
            versions: detail
                .versions
                .iter()
                .map(|v| VersionRow {
                    version: v.version,
                    from: french::long_date(v.effective_from),
                })
                .collect(),
            modules: detail
                .modules
                .iter()
                .map(|m| {
                    let edit = module_edit.filter(|e| e.number == Some(m.number));
                    ModuleRow {
                        number: m.number,
                        title: m.title.clone(),
                        family: m.family.clone(),
                        form: edit.map_or_else(
                            || super::catalogue::ModuleForm::of(m),
                            |e| e.form.clone(),
                        ),
                        errors: edit.map(|e| e.errors.to_view()),
                    }
                })
                .collect(),
            new_module: {
                let edit = module_edit.filter(|e| e.number.is_none());
                ModuleRow {
                    number: detail.modules.iter().map(|m| m.number).max().unwrap_or(0) + 1,
                    title: String::new(),
                    family: String::new(),
                    form: edit.map(|e| e.form.clone()).unwrap_or_default(),
                    errors: edit.map(|e| e.errors.to_view()),
                }
            },
            funding,
            form: values,
            today: portal.tenant.today().format("%Y-%m-%d").to_string(),
            errors: errors.to_view(),
            notice,
        },
    ))
}

#[handler]
pub(super) async fn show(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::CHANGE_SCHEME_RULES).await?;
    let id = super::path_id(&id, "scheme")?;
    let notice = match req.uri().query() {
        Some("regles=1") => {
            Some("Nouvelles règles enregistrées : les chèques déjà émis gardent les leurs.")
        }
        Some("modules=1") => Some("Catalogue enregistré : le kit public le montre dès maintenant."),
        Some("financement=1") => Some("Financement des demandes du formulaire public enregistré."),
        Some("nom=1") => {
            Some("Dispositif renommé : courriers, pages et courriels portent son nouveau nom.")
        }
        _ => None,
    };
    scheme_page(
        &state,
        &portal,
        id,
        StatusCode::OK,
        SchemePageState {
            notice,
            ..SchemePageState::default()
        },
    )
    .await
}

#[handler]
pub(super) async fn list(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::CREATE_SCHEME).await?;
    let notice = match req.uri().query() {
        Some("cree=1") => {
            Some("Dispositif créé en brouillon : ouvrez-le pour émettre des chèques.")
        }
        Some("etat=1") => Some("État du dispositif changé."),
        _ => None,
    };
    schemes_page(
        &state,
        &portal,
        StatusCode::OK,
        &NewSchemeForm::default(),
        &FormRefusal::default(),
        notice,
    )
    .await
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub(super) struct NewSchemeForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    preset: String,
}

#[handler]
pub(super) async fn create(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<NewSchemeForm>,
) -> PageResult {
    let portal =
        Portal::allowed_form(&state, req, &slug, &access::CREATE_SCHEME, &form.csrf_token).await?;
    let new = NewScheme {
        code: form.code.trim().to_owned(),
        name: form.name.trim().to_owned(),
        preset: Some(form.preset.clone()).filter(|p| !p.is_empty()),
        ..NewScheme::default()
    };
    let errors = if new.preset.is_none() {
        FormRefusal::default().field("preset", "Choisissez un modèle dans la liste.")
    } else {
        match schemes::create(&state.db, portal.tenant.id, portal.actor(), new).await {
            Ok(_) => return Ok(see_other(&format!("{}/dispositifs?cree=1", portal.path()))),
            Err(e) => super::refusal_of(&e)?,
        }
    };
    schemes_page(
        &state,
        &portal,
        StatusCode::UNPROCESSABLE_ENTITY,
        &form,
        &errors,
        None,
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct StatusForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    status: String,
}

#[handler]
pub(super) async fn set_status(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<StatusForm>,
) -> PageResult {
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::SET_SCHEME_STATUS,
        &form.csrf_token,
    )
    .await?;
    let id = super::path_id(&id, "scheme")?;
    let back = format!("{}/dispositifs", portal.path());
    let Ok(status) = form.status.parse::<SchemeStatus>() else {
        return Err(failed(
            &Error::invalid("status", "draft, active or closed"),
            Some((&back, "Revenir aux dispositifs")),
        )
        .into());
    };
    schemes::set_status(&state.db, portal.tenant.id, portal.actor(), id, status)
        .await
        .or_back(&back, "Revenir aux dispositifs")?;
    Ok(see_other(&format!("{back}?etat=1")))
}

#[derive(Debug, Deserialize)]
pub(super) struct NameForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
}

/// Renames the scheme (its code, in the public addresses, stays).
#[handler]
pub(super) async fn rename(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<NameForm>,
) -> PageResult {
    let portal =
        Portal::allowed_form(&state, req, &slug, &access::RENAME_SCHEME, &form.csrf_token).await?;
    let id = super::path_id(&id, "scheme")?;
    let page = format!("{}/dispositifs/{id}", portal.path());
    schemes::rename(&state.db, portal.tenant.id, portal.actor(), id, &form.name)
        .await
        .or_back(&page, "Revenir au dispositif")?;
    Ok(see_other(&format!("{page}?nom=1")))
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
pub(super) struct RulesForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    effective_from: String,
    #[serde(default)]
    face_value_cents: String,
    #[serde(default)]
    voucher_hours: String,
    #[serde(default)]
    session_minutes: String,
    #[serde(default)]
    modules_to_choose: String,
    #[serde(default)]
    hourly_rate_cents: String,
    #[serde(default)]
    validity_months: String,
}

/// The scheme's current rules with the form's numbers in place; what the form cannot read is
/// refused in French next to its field.
fn read_rules(
    form: &RulesForm,
    current: &SchemeRules,
) -> Result<(NaiveDate, SchemeRules), FormRefusal> {
    let mut refusal = FormRefusal::default();
    let mut rules = current.clone();
    let whole = |text: &str| text.trim().parse::<u32>().ok();
    let from = NaiveDate::parse_from_str(form.effective_from.trim(), "%Y-%m-%d").ok();
    if from.is_none() {
        refusal = refusal.field(
            "effective_from",
            "Saisissez la date d’effet, par exemple 2027-01-01.",
        );
    }
    // Each number read, or refused next to its field with an example of what to type.
    let mut read = |field: &str, value: Option<u32>, example: &str| {
        if value.is_none() {
            refusal = std::mem::take(&mut refusal).field(field, format!("Saisissez {example}."));
        }
        value
    };
    let cents = |text: &str| euros_to_cents(text).and_then(|c| u32::try_from(c).ok());
    if let Some(value) = read(
        "face_value_cents",
        cents(&form.face_value_cents),
        "une valeur en euros, par exemple 200 ou 200,00",
    ) {
        rules.face_value_cents = i64::from(value);
    }
    if let Some(hours) = read(
        "voucher_hours",
        whole(&form.voucher_hours),
        "un nombre entier d’heures, par exemple 20",
    ) {
        rules.voucher_minutes = hours * 60;
    }
    if let Some(minutes) = read(
        "session_minutes",
        whole(&form.session_minutes),
        "une durée en minutes, par exemple 120",
    ) {
        rules.session_minutes = minutes;
    }
    if let Some(count) = read(
        "modules_to_choose",
        whole(&form.modules_to_choose),
        "un nombre de modules, par exemple 10",
    ) {
        rules.modules_to_choose = count;
    }
    if let Some(value) = read(
        "hourly_rate_cents",
        cents(&form.hourly_rate_cents),
        "un montant en euros, par exemple 10",
    ) {
        rules.hourly_rate_cents = i64::from(value);
    }
    if matches!(rules.validity, Validity::MonthsAfterIssue { .. })
        && let Some(months) = read(
            "validity_months",
            whole(&form.validity_months),
            "un nombre de mois, par exemple 12",
        )
    {
        rules.validity = Validity::MonthsAfterIssue { months };
    }
    match from {
        Some(from) if refusal.is_empty() => Ok((from, rules)),
        _ => Err(refusal),
    }
}

#[handler]
pub(super) async fn change_rules(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<RulesForm>,
) -> PageResult {
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::CHANGE_SCHEME_RULES,
        &form.csrf_token,
    )
    .await?;
    let id = super::path_id(&id, "scheme")?;
    let detail = schemes::get(&state.db, portal.tenant.id, id).await?;
    let Some(current) = detail.current.as_ref().map(|v| v.rules.0.clone()) else {
        return Err(failed(
            &Error::Refused(passerelle_core::Refusal::NoRulesInForce {
                on: portal.tenant.today(),
            }),
            None,
        )
        .into());
    };
    let errors = match read_rules(&form, &current) {
        Ok((from, rules)) => {
            match schemes::change_rules(
                &state.db,
                portal.tenant.id,
                portal.actor(),
                id,
                from,
                rules,
            )
            .await
            {
                Ok(_) => {
                    return Ok(see_other(&format!(
                        "{}/dispositifs/{id}?regles=1",
                        portal.path()
                    )));
                }
                Err(e) => rename_fields(super::refusal_of(&e)?),
            }
        }
        Err(errors) => errors,
    };
    scheme_page(
        &state,
        &portal,
        id,
        StatusCode::UNPROCESSABLE_ENTITY,
        SchemePageState {
            rules: Some((&form, &errors)),
            ..SchemePageState::default()
        },
    )
    .await
}

/// The form names hours and months where the rules hold minutes and a validity.
fn rename_fields(mut errors: FormRefusal) -> FormRefusal {
    for (core, form) in [
        ("voucher_minutes", "voucher_hours"),
        ("validity.months", "validity_months"),
    ] {
        if let Some(message) = errors.fields.remove(core) {
            errors.fields.insert(form.into(), message);
        }
    }
    errors
}

#[derive(Deserialize)]
pub(super) struct FundingForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    prescriber_id: String,
}

/// Designates the prescriber whose allocation funds the scheme's public requests (or none).
#[handler]
pub(super) async fn set_funding(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<FundingForm>,
) -> PageResult {
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::SET_PUBLIC_REQUEST_FUNDING,
        &form.csrf_token,
    )
    .await?;
    let id = super::path_id(&id, "scheme")?;
    let back = format!("{}/dispositifs/{id}", portal.path());
    let prescriber = match super::forms::optional(&form.prescriber_id) {
        None => None,
        Some(text) => Some(super::path_id(&text, "prescriber")?),
    };
    schemes::set_public_request_funding(
        &state.db,
        portal.tenant.id,
        portal.actor(),
        id,
        prescriber,
    )
    .await
    .or_back(&back, "Revenir au dispositif")?;
    Ok(see_other(&format!("{back}?financement=1#financement")))
}
