//! The prescriber agent's pages: issue a voucher to a person (with the duplicate warning), read
//! a voucher, print its one-page letter, issue from a CSV file, and see the organisation's stock
//! and funnel.

use passerelle_core::beneficiaries::{self, NewBeneficiary, PublicCategory};
use passerelle_core::delivery::portfolio;
use passerelle_core::emails::french;
use passerelle_core::emails::french::euros;
use passerelle_core::imports::Target;
use passerelle_core::pagination::PageRequest;
use passerelle_core::vouchers::bulk;
use passerelle_core::vouchers::{self, Holder, IssueRequest, Visibility, VoucherFilter};
use passerelle_core::{Error, epns, labels, prescribers, schemes};
use poem::http::StatusCode;
use poem::web::{Data, Form, Multipart, Path};
use poem::{Request, handler};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::forms::{Choice, euros_to_cents, option, optional, query_param, ticked};
use super::french::{FormErrors, FormRefusal};
use super::imports::Received;
use super::{OrBack, PageResult, Portal, see_other, unavailable};
use crate::access;
use crate::state::AppState;

/// The active schemes a voucher can be issued from, as `<select>` options.
async fn active_schemes(state: &AppState, portal: &Portal) -> Result<Vec<Choice>, Error> {
    let page = schemes::list(
        &state.db,
        portal.tenant.id,
        PageRequest {
            limit: 100,
            after: None,
        },
    )
    .await?;
    Ok(page
        .items
        .iter()
        .filter(|s| s.status == passerelle_core::schemes::SchemeStatus::Active)
        .map(|s| option(s.id, &s.name))
        .collect())
}

fn categories() -> Vec<Choice> {
    PublicCategory::all()
        .map(|category| option(category.as_str(), labels::public_category(category)))
        .collect()
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub(super) struct VoucherForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    scheme_id: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    birth_year: String,
    #[serde(default)]
    commune_insee: String,
    #[serde(default)]
    public_category: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email_consent: Option<String>,
    #[serde(default)]
    participation: String,
    /// The answer to the duplicate warning: `meme:<id>` (issue to the person already registered)
    /// or `autre` (register another person with the same names).
    #[serde(default)]
    duplicate: String,
}

/// The duplicate warning, shown when a person with the same names, birth year and commune exists.
#[derive(Debug, serde::Serialize)]
struct Duplicate {
    /// Set when the existing person is followed by the agent's own organisation, so the voucher
    /// can be issued in their name.
    existing_id: Option<Uuid>,
    registered_on: String,
}

/// The form to issue a voucher, with the duplicate warning when there is one.
#[derive(Serialize)]
struct NewVoucherView<'a> {
    form: &'a VoucherForm,
    email_consent: bool,
    scheme_id: String,
    schemes: Vec<Choice>,
    categories: Vec<Choice>,
    errors: FormErrors,
    duplicate: Option<Duplicate>,
}

/// A voucher as its page and its letter show it.
#[derive(Serialize)]
struct VoucherDetails {
    reference: String,
    holder: String,
    /// The holder's commune by its name, e.g. "Figeac (46102)".
    commune: Option<String>,
    scheme: String,
    prescriber: String,
    status: &'static str,
    value: String,
    hours: String,
    /// What the holder pays toward it, when the prescriber asked a participation.
    fee: Option<String>,
    left: String,
    issued_on: String,
    valid_until: String,
    /// For the letter: the scheme's code (its public page) and the holder's commune (the places
    /// nearest them).
    #[serde(skip)]
    scheme_code: String,
    #[serde(skip)]
    commune_insee: Option<String>,
}

/// How many places the letter lists: the nearest, so that it stays on one A4 sheet with the
/// holder's code; the others are on the scheme's public page.
const LETTER_PLACES: usize = 3;

/// A voucher's page.
#[derive(Serialize)]
struct VoucherPage {
    voucher: VoucherDetails,
    just_issued: bool,
    /// The holder's credentials, for the territory's admins.
    credentials: Option<Vec<super::credentials::CredentialLine>>,
    credential_revoked: bool,
}

/// A place on the letter's list of EPNs taking part.
#[derive(Serialize)]
struct LetterPlace {
    name: String,
    address: Option<String>,
    town: String,
    phone: Option<String>,
}

/// The holder's way into their own space, as the letter prints it.
#[derive(Serialize)]
struct LetterLink {
    url: String,
    entry_url: String,
    code: String,
    qr: String,
}

/// The letter given to the holder.
#[derive(Serialize)]
struct LetterView<'a> {
    voucher: VoucherDetails,
    /// The places nearest the holder's commune.
    places: Vec<LetterPlace>,
    /// How many others take part, and where to find them all.
    other_places: usize,
    places_url: String,
    /// Absent once the person's data is erased.
    link: Option<LetterLink>,
    balance_url: String,
    today: String,
    sender: &'a str,
}

/// An allocation of the prescriber still running, with what is left of it.
#[derive(Serialize)]
struct StockRow {
    scheme: String,
    period: String,
    quantity: i32,
    issued: i32,
    remaining: i32,
}

/// A voucher of the prescriber's list.
#[derive(Serialize)]
struct VoucherRow {
    reference: String,
    scheme: String,
    issued_on: String,
    left: String,
    status: &'static str,
}

/// Where the prescriber's vouchers went (`prescribers::funnel`).
#[derive(Serialize)]
struct FunnelFigures {
    issued: i64,
    registered: i64,
    started: i64,
    completed: i64,
    expired_unused: i64,
    cancelled: i64,
}

/// The prescriber's vouchers page: the list, the stock and the funnel.
#[derive(Serialize)]
struct VouchersView {
    vouchers: Vec<VoucherRow>,
    next: Option<String>,
    stock: Vec<StockRow>,
    funnel: FunnelFigures,
}

/// The bulk issuance page.
#[derive(Serialize)]
struct ImportView {
    schemes: Vec<Choice>,
    scheme_id: String,
    errors: FormErrors,
}

async fn voucher_form_page(
    state: &AppState,
    portal: &Portal,
    status: StatusCode,
    form: &VoucherForm,
    errors: &FormRefusal,
    duplicate: Option<Duplicate>,
) -> PageResult {
    let schemes = active_schemes(state, portal).await?;
    let selected_scheme = if form.scheme_id.is_empty() && schemes.len() == 1 {
        schemes[0].value.clone()
    } else {
        form.scheme_id.clone()
    };
    Ok(portal.page(
        status,
        "voucher_new.html",
        NewVoucherView {
            form,
            email_consent: ticked(&form.email_consent),
            scheme_id: selected_scheme,
            schemes,
            categories: categories(),
            errors: errors.to_view(),
            duplicate,
        },
    ))
}

#[handler]
pub(super) async fn new_voucher_form(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::ISSUE_VOUCHER).await?;
    voucher_form_page(
        &state,
        &portal,
        StatusCode::OK,
        &VoucherForm::default(),
        &FormRefusal::default(),
        None,
    )
    .await
}

/// Reads the form into the domain's request; the fields the form itself can judge (numbers,
/// the scheme's id) are refused here, in French.
fn read_voucher_form(form: &VoucherForm) -> Result<(Uuid, NewBeneficiary, i64), FormRefusal> {
    let mut refusal = FormRefusal::default();
    let scheme_id = Uuid::parse_str(form.scheme_id.trim()).ok();
    if scheme_id.is_none() {
        refusal = refusal.field("scheme_id", "Choisissez un dispositif dans la liste.");
    }
    let birth_year = form.birth_year.trim().parse::<i16>().ok();
    if birth_year.is_none() {
        refusal = refusal.field(
            "birth_year",
            "Saisissez l’année de naissance sur 4 chiffres, par exemple 1952.",
        );
    }
    let public_category = form.public_category.parse::<PublicCategory>().ok();
    if public_category.is_none() {
        refusal = refusal.field("public_category", "Choisissez un public dans la liste.");
    }
    let fee = euros_to_cents(&form.participation);
    if fee.is_none() {
        refusal = refusal.field(
            "participation",
            "Saisissez un montant en euros, par exemple 5 ou 5,50.",
        );
    }
    match (scheme_id, birth_year, public_category, fee) {
        (Some(scheme_id), Some(birth_year), Some(public_category), Some(fee))
            if refusal.is_empty() =>
        {
            Ok((
                scheme_id,
                NewBeneficiary {
                    first_name: form.first_name.trim().to_owned(),
                    last_name: form.last_name.trim().to_owned(),
                    birth_year,
                    commune_insee: form.commune_insee.trim().to_uppercase(),
                    public_category,
                    email: optional(&form.email),
                    phone: optional(&form.phone),
                    email_consent: ticked(&form.email_consent),
                    allow_duplicate: form.duplicate == "autre",
                },
                fee,
            ))
        }
        _ => Err(refusal),
    }
}

#[handler]
pub(super) async fn issue(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<VoucherForm>,
) -> PageResult {
    let portal =
        Portal::allowed_form(&state, req, &slug, &access::ISSUE_VOUCHER, &form.csrf_token).await?;
    let Some(prescriber_id) = portal.prescriber_id() else {
        return Err(unavailable().into());
    };
    let (state_ref, portal_ref, form_ref) = (&*state, &portal, &form);
    let refused = move |errors: FormRefusal, duplicate: Option<Duplicate>| async move {
        let status = if duplicate.is_some() {
            StatusCode::CONFLICT
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        voucher_form_page(
            state_ref,
            portal_ref,
            status,
            form_ref,
            &errors_of(errors),
            duplicate,
        )
        .await
    };
    let (scheme_id, person, fee) = match read_voucher_form(&form) {
        Ok(read) => read,
        Err(errors) => return refused(errors, None).await,
    };
    let holder = match form.duplicate.strip_prefix("meme:").map(Uuid::parse_str) {
        Some(Ok(existing)) => Holder::Existing(existing),
        _ => Holder::New(person.clone()),
    };
    let request = IssueRequest {
        scheme_id,
        holder,
        participation_fee_cents: fee,
    };
    match vouchers::issue(
        &state.db,
        portal.tenant.id,
        prescriber_id,
        portal.actor(),
        &request,
    )
    .await
    {
        Ok(issued) => Ok(see_other(&format!(
            "{}/cheques/{}?emis=1",
            portal.path(),
            issued.voucher.reference
        ))),
        Err(Error::Refused(passerelle_core::Refusal::ProbableDuplicate { .. })) => {
            let existing = beneficiaries::probable_duplicate(
                &state.db,
                portal.tenant.id,
                prescriber_id,
                &person,
            )
            .await?;
            let duplicate = existing.map(|b| Duplicate {
                existing_id: (b.prescriber_id == prescriber_id).then_some(b.id),
                registered_on: french::long_date(
                    b.created_at.with_timezone(&portal.tenant.tz()).date_naive(),
                ),
            });
            refused(FormRefusal::default(), duplicate).await
        }
        Err(e) => {
            let errors = super::refusal_of(&e)?;
            refused(errors, None).await
        }
    }
}

/// The form's `participation` field carries the core's `participation_fee_cents`.
fn errors_of(mut errors: FormRefusal) -> FormRefusal {
    if let Some(message) = errors.fields.remove("participation_fee_cents") {
        errors.fields.insert("participation".into(), message);
    }
    errors
}

fn visibility(portal: &Portal) -> Visibility {
    match portal.prescriber_id() {
        Some(id) => Visibility::Prescriber(id),
        None => Visibility::Tenant,
    }
}

/// A voucher with its holder, scheme and issuer, for its page and its letter; and its scheme.
async fn voucher_details(
    state: &AppState,
    portal: &Portal,
    reference: &str,
) -> Result<(Uuid, VoucherDetails), Error> {
    let tenant_id = portal.tenant.id;
    let voucher = vouchers::get(&state.db, tenant_id, reference, visibility(portal)).await?;
    let holder = beneficiaries::get(&state.db, tenant_id, voucher.beneficiary_id, None).await?;
    let scheme = schemes::get(&state.db, tenant_id, voucher.scheme_id).await?;
    let prescriber = prescribers::get(&state.db, tenant_id, voucher.prescriber_id).await?;
    let status = voucher.status_at(portal.tenant.tz(), chrono::Utc::now());
    let details = VoucherDetails {
        holder: format!(
            "{} {}",
            holder.first_name.as_deref().unwrap_or_default(),
            holder.last_name.as_deref().unwrap_or_default()
        )
        .trim()
        .to_owned(),
        commune: holder
            .commune_insee
            .as_deref()
            .map(passerelle_core::communes::label),
        scheme_code: scheme.scheme.code,
        commune_insee: holder.commune_insee.clone(),
        scheme: scheme.scheme.name,
        prescriber: prescriber.name,
        status: passerelle_core::labels::voucher_status(status),
        value: euros(voucher.face_value_cents),
        hours: french::duration(voucher.minutes_total),
        fee: (voucher.participation_fee_cents > 0).then(|| euros(voucher.participation_fee_cents)),
        left: french::duration(voucher.minutes_left),
        issued_on: french::long_date(voucher.issued_on),
        valid_until: french::long_date(voucher.valid_until),
        reference: voucher.reference,
    };
    Ok((voucher.scheme_id, details))
}

#[handler]
pub(super) async fn show(
    Path((slug, reference)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::GET_BENEFICIARY).await?;
    let back = format!("{}/cheques", portal.path());
    let (_, details) = voucher_details(&state, &portal, &reference)
        .await
        .or_back(&back, "Revenir aux chèques")?;
    let credentials = super::credentials::of_voucher(&state, &portal, &reference).await?;
    let query = req.uri().query().unwrap_or_default();
    Ok(portal.page(
        StatusCode::OK,
        "voucher.html",
        VoucherPage {
            voucher: details,
            just_issued: query.contains("emis=1"),
            credentials,
            credential_revoked: query.contains("attestation=revoquee"),
        },
    ))
}

#[handler]
pub(super) async fn letter(
    Path((slug, reference)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::GET_BENEFICIARY).await?;
    let (scheme_id, details) = voucher_details(&state, &portal, &reference).await?;
    let nearest = epns::nearest_to_commune(
        &state.db,
        portal.tenant.id,
        scheme_id,
        details.commune_insee.as_deref(),
        LETTER_PLACES,
    )
    .await?;
    let places: Vec<LetterPlace> = nearest
        .places
        .iter()
        .map(|e| LetterPlace {
            name: e.name.clone(),
            address: e.address.clone(),
            town: format!(
                "{} {}",
                e.postal_code.as_deref().unwrap_or_default(),
                e.commune.as_deref().unwrap_or_default()
            )
            .trim()
            .to_owned(),
            phone: e.phone.clone(),
        })
        .collect();
    // The letter carries the person's private link; printing it makes one when they have none
    // (their first letter, or the first after they revoked theirs).
    let link = portfolio::letter_link(
        &state.db,
        &state.links.portfolio_key,
        &portal.tenant,
        portal.actor(),
        &reference,
        visibility(&portal),
    )
    .await?
    .map(|link| {
        let url = state.links.holder(&link);
        LetterLink {
            qr: crate::qr::svg(&url, 132, "Code QR vers votre espace personnel"),
            entry_url: state.links.holder_entry(&link),
            code: link.code.grouped(),
            url,
        }
    });
    Ok(portal.page(
        StatusCode::OK,
        "voucher_letter.html",
        LetterView {
            other_places: nearest.taking_part - places.len(),
            places_url: state
                .links
                .places(&portal.tenant.slug, &details.scheme_code),
            voucher: details,
            places,
            link,
            balance_url: state.links.balance(),
            today: french::long_date(portal.tenant.today()),
            sender: &portal.tenant.sender_name,
        },
    ))
}

#[handler]
pub(super) async fn list(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::ISSUE_VOUCHER).await?;
    let Some(prescriber_id) = portal.prescriber_id() else {
        return Err(unavailable().into());
    };
    // A reference typed in the search field opens the voucher's page.
    if let Some(reference) = query_param(req, "reference") {
        let reference: String = reference
            .trim()
            .to_uppercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        return Ok(see_other(&format!("{}/cheques/{reference}", portal.path())));
    }
    let page = PageRequest::parse(Some(50), query_param(req, "suite").as_deref())?;
    let tenant_id = portal.tenant.id;
    let filter = VoucherFilter {
        newest_first: true,
        ..VoucherFilter::default()
    };
    let listed = vouchers::list(
        &state.db,
        tenant_id,
        &filter,
        Visibility::Prescriber(prescriber_id),
        page,
    )
    .await;
    let funnel = prescribers::funnel(
        &state.db,
        tenant_id,
        prescriber_id,
        None,
        portal.tenant.today(),
    )
    .await;
    let allocations = prescribers::allocations(&state.db, tenant_id, prescriber_id, None).await;
    let schemes = schemes::list(
        &state.db,
        tenant_id,
        PageRequest {
            limit: 100,
            after: None,
        },
    )
    .await;
    let (listed, funnel, allocations, schemes) = (listed?, funnel?, allocations?, schemes?);
    let scheme_name = |id: Uuid| {
        schemes
            .items
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    };
    let today = portal.tenant.today();
    let stock: Vec<StockRow> = allocations
        .iter()
        .filter(|a| a.period_end >= today)
        .map(|a| StockRow {
            scheme: scheme_name(a.scheme_id),
            period: format!(
                "du {} au {}",
                french::long_date(a.period_start),
                french::long_date(a.period_end)
            ),
            quantity: a.quantity,
            issued: a.issued,
            remaining: a.remaining(),
        })
        .collect();
    let rows: Vec<VoucherRow> = listed
        .items
        .iter()
        .map(|v| VoucherRow {
            reference: v.reference.clone(),
            scheme: scheme_name(v.scheme_id),
            issued_on: french::long_date(v.issued_on),
            left: french::duration(v.minutes_left),
            status: passerelle_core::labels::voucher_status(
                v.status_at(portal.tenant.tz(), chrono::Utc::now()),
            ),
        })
        .collect();
    Ok(portal.page(
        StatusCode::OK,
        "vouchers.html",
        VouchersView {
            vouchers: rows,
            next: listed.next_cursor,
            stock,
            funnel: FunnelFigures {
                issued: funnel.issued,
                registered: funnel.registered,
                started: funnel.started,
                completed: funnel.completed,
                expired_unused: funnel.expired_unused,
                cancelled: funnel.cancelled,
            },
        },
    ))
}

#[handler]
pub(super) async fn import_form(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::BULK_ISSUE_VOUCHERS).await?;
    import_page(&state, &portal, StatusCode::OK, "", &FormRefusal::default()).await
}

async fn import_page(
    state: &AppState,
    portal: &Portal,
    status: StatusCode,
    scheme_id: &str,
    errors: &FormRefusal,
) -> PageResult {
    let schemes = active_schemes(state, portal).await?;
    let scheme_id = if scheme_id.is_empty() && schemes.len() == 1 {
        schemes[0].value.clone()
    } else {
        scheme_id.to_owned()
    };
    Ok(portal.page(
        status,
        "voucher_import.html",
        ImportView {
            schemes,
            scheme_id,
            errors: errors.to_view(),
        },
    ))
}

#[handler]
pub(super) async fn import(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    multipart: Multipart,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::BULK_ISSUE_VOUCHERS).await?;
    let Some(prescriber_id) = portal.prescriber_id() else {
        return Err(unavailable().into());
    };
    let target = |fields: &std::collections::HashMap<String, String>| {
        let scheme = fields
            .get("scheme_id")
            .map(|s| s.trim())
            .unwrap_or_default();
        Uuid::parse_str(scheme)
            .map(|scheme_id| Target::Vouchers {
                scheme_id,
                prescriber_id,
            })
            .map_err(|_| {
                FormRefusal::default().field("scheme_id", "Choisissez un dispositif dans la liste.")
            })
    };
    let received = super::imports::receive(
        &state,
        &portal,
        req,
        multipart,
        target,
        bulk::MAX_FILE_BYTES,
    )
    .await?;
    match received {
        Received::Forbidden(page) => Ok(page),
        Received::Started(import) => Ok(see_other(&format!(
            "{}/cheques/imports/{}",
            portal.path(),
            import.id
        ))),
        Received::Invalid { fields, errors } => {
            let scheme_id = fields.get("scheme_id").cloned().unwrap_or_default();
            import_page(
                &state,
                &portal,
                StatusCode::UNPROCESSABLE_ENTITY,
                &scheme_id,
                &errors,
            )
            .await
        }
    }
}
