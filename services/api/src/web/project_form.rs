//! A structure proposes a collective project (Pass Numérique): its title and aim, the EPN that
//! runs it, its sessions and hours, and its members — typed in the form's rows or taken from a
//! spreadsheet file in the bulk issuance's template. Every problem is shown next to its row; a
//! person the structure already follows is named or declared another person, row by row.

use passerelle_core::beneficiaries::{NewBeneficiary, PublicCategory};
use passerelle_core::delivery::projects::{self, NewProject};
use passerelle_core::pagination::PageRequest;
use passerelle_core::schemes::SchemeStatus;
use passerelle_core::vouchers::Holder;
use passerelle_core::vouchers::bulk;
use passerelle_core::{Error, FieldRule, epns, labels, schemes};
use poem::http::StatusCode;
use poem::web::{Data, Multipart, Path};
use poem::{Request, handler};
use serde::Serialize;
use uuid::Uuid;

use super::forms::{Choice, Upload, euros_to_cents, option};
use super::french::{FormErrors, FormRefusal};
use super::{PageResult, Portal, see_other, unavailable};
use crate::access;
use crate::state::AppState;

/// The largest members' file: ten people fit in far less.
const MAX_MEMBERS_FILE_BYTES: usize = 256 * 1024;
/// Rows of the form when no scheme says more (Pass Numérique's groups have 5 to 10 people).
const DEFAULT_ROWS: usize = 10;

/// A member's row as typed (or read from the file), kept to show the form again.
#[derive(Debug, Clone, Default, Serialize)]
struct MemberRow {
    index: usize,
    first_name: String,
    last_name: String,
    birth_year: String,
    commune_insee: String,
    public_category: String,
    /// The answer to "is it the person you already follow?": `meme:<id>` or `autre`.
    choice: String,
    /// The person the structure already follows with these details, when the form asks.
    known: Option<Uuid>,
}

impl MemberRow {
    fn is_blank(&self) -> bool {
        [
            &self.first_name,
            &self.last_name,
            &self.birth_year,
            &self.commune_insee,
            &self.public_category,
        ]
        .iter()
        .all(|v| v.trim().is_empty())
    }

    fn from_person(index: usize, person: &NewBeneficiary) -> Self {
        Self {
            index,
            first_name: person.first_name.clone(),
            last_name: person.last_name.clone(),
            birth_year: person.birth_year.to_string(),
            commune_insee: person.commune_insee.clone(),
            public_category: person.public_category.as_str().to_owned(),
            ..Self::default()
        }
    }
}

#[derive(Debug, Default, Serialize)]
struct ProjectFields {
    scheme_id: String,
    epn_id: String,
    title: String,
    aim: String,
    planned_sessions: String,
    planned_hours: String,
}

#[derive(Serialize)]
struct NewProjectView<'a> {
    form: &'a ProjectFields,
    rows: &'a [MemberRow],
    schemes: Vec<Choice>,
    epns: Vec<Choice>,
    categories: Vec<Choice>,
    errors: FormErrors,
}

/// The active schemes that run collective projects, as options, and the most members a group
/// may have among them.
async fn project_schemes(state: &AppState, portal: &Portal) -> Result<(Vec<Choice>, usize), Error> {
    let tenant_id = portal.tenant.id;
    let listed = schemes::list(&state.db, tenant_id, PageRequest::parse(Some(100), None)?).await?;
    let mut choices = Vec::new();
    let mut rows = 0;
    for scheme in listed.items {
        if scheme.status != SchemeStatus::Active {
            continue;
        }
        let detail = schemes::get(&state.db, tenant_id, scheme.id).await?;
        let range = detail
            .current
            .and_then(|v| v.rules.0.delivery_modes.collective_projects);
        if let Some(range) = range {
            rows = rows.max(range.max as usize);
            choices.push(option(scheme.id, &scheme.name));
        }
    }
    Ok((choices, if rows == 0 { DEFAULT_ROWS } else { rows }))
}

/// The EPNs taking part in those schemes, each once.
async fn project_epns(
    state: &AppState,
    portal: &Portal,
    schemes: &[Choice],
) -> Result<Vec<Choice>, Error> {
    let mut choices: Vec<Choice> = Vec::new();
    for scheme in schemes {
        let Ok(scheme_id) = Uuid::parse_str(&scheme.value) else {
            continue;
        };
        for epn in epns::taking_part(&state.db, portal.tenant.id, scheme_id).await? {
            let label = match &epn.commune {
                Some(commune) => format!("{} ({commune})", epn.name),
                None => epn.name.clone(),
            };
            let choice = option(epn.id, label);
            if !choices.contains(&choice) {
                choices.push(choice);
            }
        }
    }
    Ok(choices)
}

/// The EPNs a project may be run by, as options (the filter of the team's list, the form's).
pub(super) async fn project_epn_choices(
    state: &AppState,
    portal: &Portal,
) -> Result<Vec<Choice>, Error> {
    let (schemes, _) = project_schemes(state, portal).await?;
    project_epns(state, portal, &schemes).await
}

async fn form_page(
    state: &AppState,
    portal: &Portal,
    status: StatusCode,
    form: &ProjectFields,
    rows: Option<&[MemberRow]>,
    errors: &FormRefusal,
) -> PageResult {
    let (schemes, row_count) = project_schemes(state, portal).await?;
    let epns = project_epns(state, portal, &schemes).await?;
    let blank: Vec<MemberRow> = (0..row_count)
        .map(|index| MemberRow {
            index,
            ..MemberRow::default()
        })
        .collect();
    let rows = rows.unwrap_or(&blank);
    let mut form_view = ProjectFields {
        scheme_id: form.scheme_id.clone(),
        epn_id: form.epn_id.clone(),
        title: form.title.clone(),
        aim: form.aim.clone(),
        planned_sessions: form.planned_sessions.clone(),
        planned_hours: form.planned_hours.clone(),
    };
    if form_view.scheme_id.is_empty() && schemes.len() == 1 {
        form_view.scheme_id = schemes[0].value.clone();
    }
    Ok(portal.page(
        status,
        "project_new.html",
        NewProjectView {
            form: &form_view,
            rows,
            schemes,
            epns,
            categories: PublicCategory::all()
                .map(|c| option(c.as_str(), labels::public_category(c)))
                .collect(),
            errors: errors.to_view(),
        },
    ))
}

#[handler]
pub(super) async fn new_form(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::SUBMIT_PROJECT).await?;
    form_page(
        &state,
        &portal,
        StatusCode::OK,
        &ProjectFields::default(),
        None,
        &FormRefusal::default(),
    )
    .await
}

/// Planned hours as a person types them ("12", "7,5") in minutes.
fn hours_to_minutes(text: &str) -> Option<i32> {
    let text = text.trim().trim_end_matches(['h', 'H']).trim();
    if text.is_empty() {
        return None;
    }
    let hundredths = euros_to_cents(text)?;
    i32::try_from(hundredths * 60 / 100).ok().filter(|m| *m > 0)
}

/// The rows of the form as typed: `m<i>_<field>` for the `rows` rows.
fn typed_rows(upload: &Upload, rows: usize) -> Vec<MemberRow> {
    (0..rows)
        .map(|index| {
            let field = |name: &str| upload.field(&format!("m{index}_{name}")).to_owned();
            MemberRow {
                index,
                first_name: field("first_name"),
                last_name: field("last_name"),
                birth_year: field("birth_year"),
                commune_insee: field("commune_insee"),
                public_category: field("public_category"),
                choice: field("choice"),
                known: None,
            }
        })
        .collect()
}

/// The members the file gives, as rows of the form (so that a refused one is corrected in
/// place), or the file's refusal.
fn file_rows(file: &[u8], capacity: usize) -> Result<Vec<MemberRow>, FormRefusal> {
    let people = bulk::people(file).map_err(|e| super::french::refusal(&e).unwrap_or_default())?;
    let unreadable: Vec<String> = people
        .iter()
        .filter_map(|row| {
            row.person
                .as_ref()
                .err()
                .map(|(_, reason)| format!("ligne {} : {reason}", row.line))
        })
        .collect();
    if !unreadable.is_empty() {
        return Err(FormRefusal::default().field(
            "fichier",
            format!(
                "Des lignes du fichier ne se lisent pas ({}).",
                unreadable.join(" ; ")
            ),
        ));
    }
    if people.len() > capacity {
        return Err(FormRefusal::default().field(
            "fichier",
            format!(
                "Le fichier compte {} personnes ; un projet en réunit au plus {capacity}.",
                people.len()
            ),
        ));
    }
    let mut rows: Vec<MemberRow> = people
        .iter()
        .filter_map(|row| row.person.as_ref().ok())
        .enumerate()
        .map(|(index, person)| MemberRow::from_person(index, person))
        .collect();
    rows.extend((rows.len()..capacity).map(|index| MemberRow {
        index,
        ..MemberRow::default()
    }));
    Ok(rows)
}

/// A filled row as the domain's member, or the refusals of the fields the form itself judges.
fn member_of(row: &MemberRow, refusal: &mut FormRefusal) -> Option<Holder> {
    if let Some(existing) = row
        .choice
        .strip_prefix("meme:")
        .and_then(|id| Uuid::parse_str(id).ok())
    {
        return Some(Holder::Existing(existing));
    }
    let birth_year = row.birth_year.trim().parse::<i16>().ok();
    let category = row.public_category.parse::<PublicCategory>().ok();
    let i = row.index;
    if birth_year.is_none() {
        refusal.fields.insert(
            format!("m{i}_birth_year"),
            "Saisissez l’année de naissance sur 4 chiffres, par exemple 1952.".into(),
        );
    }
    if category.is_none() {
        refusal.fields.insert(
            format!("m{i}_public_category"),
            "Choisissez un public dans la liste.".into(),
        );
    }
    Some(Holder::New(NewBeneficiary {
        first_name: row.first_name.trim().to_owned(),
        last_name: row.last_name.trim().to_owned(),
        birth_year: birth_year?,
        commune_insee: row.commune_insee.trim().to_uppercase(),
        public_category: category?,
        allow_duplicate: row.choice == "autre",
        ..NewBeneficiary::default()
    }))
}

/// The domain's refusal with each member's field moved to its row (`members.<k>.<field>` is the
/// `k`-th filled row), and the rows whose person the structure already follows marked so that
/// the form asks about them.
fn refusal_on_rows(err: &Error, filled: &[usize], rows: &mut [MemberRow]) -> Option<FormRefusal> {
    let mut refusal = super::french::refusal(err)?;
    let fields = std::mem::take(&mut refusal.fields);
    for (field, message) in fields {
        let mut parts = field.splitn(3, '.');
        let row = match (
            parts.next(),
            parts.next().and_then(|k| k.parse::<usize>().ok()),
        ) {
            (Some("members"), Some(k)) => filled.get(k).copied(),
            _ => None,
        };
        let key = match (row, parts.next()) {
            (Some(row), Some(name)) => format!("m{row}_{name}"),
            (Some(row), None) => format!("m{row}"),
            (None, _) => field,
        };
        refusal.fields.insert(key, message);
    }
    if let Error::Invalid(errors) = err {
        for e in errors {
            if let Some(FieldRule::KnownPerson { existing }) = &e.rule {
                let k = e
                    .field
                    .strip_prefix("members.")
                    .and_then(|k| k.parse::<usize>().ok());
                if let Some(row) = k.and_then(|k| filled.get(k)).and_then(|r| rows.get_mut(*r)) {
                    row.known = Some(*existing);
                }
            }
        }
    }
    Some(refusal)
}

#[handler]
pub(super) async fn submit(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    multipart: Multipart,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::SUBMIT_PROJECT).await?;
    let Some(prescriber_id) = portal.prescriber_id() else {
        return Err(unavailable().into());
    };
    let upload = Upload::read(multipart, MAX_MEMBERS_FILE_BYTES).await;
    if let Some(page) = portal.form_refused(req, upload.field("csrf_token")) {
        return Ok(page);
    }
    let form = ProjectFields {
        scheme_id: upload.field("scheme_id").to_owned(),
        epn_id: upload.field("epn_id").to_owned(),
        title: upload.field("title").to_owned(),
        aim: upload.field("aim").to_owned(),
        planned_sessions: upload.field("planned_sessions").to_owned(),
        planned_hours: upload.field("planned_hours").to_owned(),
    };
    let (_, capacity) = project_schemes(&state, &portal).await?;
    let mut refusal = FormRefusal::default();
    let mut rows = typed_rows(&upload, capacity);
    if upload.too_big {
        refusal = refusal.field(
            "fichier",
            "Le fichier dépasse 256 Ko : ce n’est pas une liste de personnes.",
        );
    } else if let Some(file) = upload.file.as_deref().filter(|f| !f.is_empty()) {
        match file_rows(file, capacity) {
            Ok(read) => rows = read,
            Err(file_refusal) => refusal = file_refusal,
        }
    }
    let scheme_id = Uuid::parse_str(form.scheme_id.trim()).ok();
    if scheme_id.is_none() {
        refusal = refusal.field("scheme_id", "Choisissez un dispositif dans la liste.");
    }
    let epn_id = Uuid::parse_str(form.epn_id.trim()).ok();
    if epn_id.is_none() {
        refusal = refusal.field("epn_id", "Choisissez l’EPN qui animera le projet.");
    }
    let planned_sessions = form.planned_sessions.trim().parse::<i32>().ok();
    if planned_sessions.is_none() {
        refusal = refusal.field(
            "planned_sessions",
            "Saisissez le nombre de séances prévues, par exemple 6.",
        );
    }
    let planned_minutes = hours_to_minutes(&form.planned_hours);
    if planned_minutes.is_none() {
        refusal = refusal.field(
            "planned_hours",
            "Saisissez le nombre d’heures de chaque pass, par exemple 12 ou 7,5.",
        );
    }
    let mut filled = Vec::new();
    let mut members = Vec::new();
    for row in rows.iter().filter(|r| !r.is_blank()) {
        if let Some(member) = member_of(row, &mut refusal) {
            filled.push(row.index);
            members.push(member);
        }
    }
    let (Some(scheme_id), Some(epn_id), Some(planned_sessions), Some(planned_minutes), true) = (
        scheme_id,
        epn_id,
        planned_sessions,
        planned_minutes,
        refusal.is_empty(),
    ) else {
        return form_page(
            &state,
            &portal,
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            Some(&rows),
            &refusal,
        )
        .await;
    };
    let new = NewProject {
        scheme_id,
        epn_id,
        title: form.title.clone(),
        aim: form.aim.clone(),
        planned_sessions,
        planned_minutes,
        members,
    };
    match projects::submit(
        &state.db,
        portal.tenant.id,
        prescriber_id,
        portal.actor(),
        &new,
    )
    .await
    {
        Ok(detail) => Ok(see_other(&format!(
            "{}/projets/{}?propose=1",
            portal.path(),
            detail.project.id
        ))),
        Err(e) => {
            let Some(mut refusal) = refusal_on_rows(&e, &filled, &mut rows) else {
                return Err(e.into());
            };
            if let Some(message) = refusal.fields.remove("planned_minutes") {
                refusal.fields.insert("planned_hours".into(), message);
            }
            form_page(
                &state,
                &portal,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                Some(&rows),
                &refusal,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_read_the_way_people_type_them() {
        assert_eq!(hours_to_minutes("12"), Some(720));
        assert_eq!(hours_to_minutes("7,5"), Some(450));
        assert_eq!(hours_to_minutes("2 h"), Some(120));
        assert_eq!(hours_to_minutes("0"), None);
        assert_eq!(hours_to_minutes(""), None);
        assert_eq!(hours_to_minutes("douze"), None);
    }

    #[test]
    fn a_members_refusal_lands_on_the_row_it_concerns() {
        let err = Error::Invalid(vec![
            passerelle_core::error::FieldError::new("members.1.email", "an email address"),
            passerelle_core::error::FieldError::breaks(
                "members.2",
                FieldRule::KnownPerson {
                    existing: Uuid::nil(),
                },
            ),
            passerelle_core::error::FieldError::new("title", "between 1 and 200 characters"),
        ]);
        let mut rows: Vec<MemberRow> = (0..6)
            .map(|index| MemberRow {
                index,
                ..MemberRow::default()
            })
            .collect();
        // Rows 0, 3 and 5 were filled: the domain's members 0, 1 and 2.
        let refusal = refusal_on_rows(&err, &[0, 3, 5], &mut rows).expect("a refusal");
        let fields: Vec<&str> = refusal.fields.keys().map(String::as_str).collect();
        assert_eq!(fields, ["m3_email", "m5", "title"]);
        assert_eq!(rows[5].known, Some(Uuid::nil()));
        assert!(rows[3].known.is_none());
    }
}
