//! The holder's credentials (Open Badges 3.0, `passerelle_core::delivery::credentials`), in
//! French: from their space, they choose how they are named in it and take one credential (a
//! page with the file and its verification link) or all of them as a zip; and anyone checks a
//! credential on the territory's public verification page, by its link or by pasting it.

use std::io::Write;

use chrono::Utc;
use passerelle_core::Error;
use passerelle_core::delivery::credentials::{
    self, Found, SubjectChoice, Verification, achievements::AchievementKey,
};
use passerelle_core::delivery::portfolio::link::Opened;
use passerelle_core::emails::french;
use poem::Request;
use poem::http::StatusCode;
use poem_openapi::param::Path;
use poem_openapi::payload::{Binary, Form, Html};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;
use zip::write::SimpleFileOptions;

use super::{message, page, too_many_page};
use crate::limits;
use crate::problem::{ApiError, PageFault, PageFormFault};
use crate::state::AppState;
use crate::v1::Tag;
use crate::v1::portfolio::open_code;
use poem::error::ResponseError;
use poem::web::Data;

/// Verifications allowed per client address and minute.
const CHECKS_PER_MINUTE: u64 = 30;

/// How the holder wants to be named in the credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
pub enum Identity {
    /// A pseudonymous identifier: nobody can tell who it is from the credential alone.
    #[oai(rename = "pseudonyme")]
    #[serde(rename = "pseudonyme")]
    Pseudonym,
    /// Their email, hashed with a salt: whoever they give it to can check it is theirs.
    #[oai(rename = "courriel")]
    #[serde(rename = "courriel")]
    Email,
    /// Their first and last names, in clear.
    #[oai(rename = "nom")]
    #[serde(rename = "nom")]
    Name,
}

/// The form of the holder's space, as a browser sends it.
#[derive(Debug, Object, Deserialize)]
pub struct CredentialForm {
    /// The achievement, as in its address (`crcn-1.1-acquired`); ignored for the zip.
    #[oai(validator(max_length = 100))]
    pub attestation: Option<String>,
    pub identite: Identity,
    /// Required when `identite` is `courriel`.
    #[oai(validator(max_length = 254))]
    pub courriel: Option<String>,
}

/// The verification form, as a browser sends it.
#[derive(Debug, Object, Deserialize)]
pub struct CheckForm {
    /// The credential's file content (a compact JWS).
    #[oai(validator(max_length = 65536))]
    pub attestation: String,
}

#[derive(ApiResponse)]
pub enum CredentialPage {
    /// The page, in French.
    #[oai(status = 200)]
    Ok(Html<String>),
    /// To the credential's page.
    #[oai(status = 303)]
    Found(#[oai(header = "Location")] String),
    /// A French page: no such credential, achievement, territory or working code (the same
    /// answer for each).
    #[oai(status = 404)]
    NotFound(Html<String>),
    /// A French page: what was sent is not a credential, or the email is not one.
    #[oai(status = 422)]
    Invalid(Html<String>),
    /// A French page: too many pages from this address; try again in a minute.
    #[oai(status = 429)]
    TooMany(Html<String>),
    /// A French page: the service cannot answer for now (its database is unreachable).
    #[oai(status = 503)]
    Unavailable(Html<String>),
}

#[derive(ApiResponse)]
pub enum CredentialFile {
    /// The credential: an Open Badges 3.0 `OpenBadgeCredential` as a compact JWS (VC-JWT).
    #[oai(status = 200, content_type = "application/jwt")]
    Ok(
        Binary<Vec<u8>>,
        #[oai(header = "Content-Disposition")] String,
    ),
    /// A French page: no such credential here.
    #[oai(status = 404)]
    NotFound(Html<String>),
    /// A French page: too many pages from this address.
    #[oai(status = 429)]
    TooMany(Html<String>),
    /// A French page: the service cannot answer for now.
    #[oai(status = 503)]
    Unavailable(Html<String>),
}

#[derive(ApiResponse)]
pub enum CredentialsZip {
    /// Every credential of the holder, one `.jwt` file each, with `LISEZMOI.txt` giving each
    /// one's verification link.
    #[oai(status = 200, content_type = "application/zip")]
    Ok(
        Binary<Vec<u8>>,
        #[oai(header = "Content-Disposition")] String,
    ),
    /// A French page: no working code, or nothing reached yet.
    #[oai(status = 404)]
    NotFound(Html<String>),
    /// A French page: the email is not one.
    #[oai(status = 422)]
    Invalid(Html<String>),
    /// A French page: too many pages from this address.
    #[oai(status = 429)]
    TooMany(Html<String>),
    /// A French page: the service cannot answer for now.
    #[oai(status = 503)]
    Unavailable(Html<String>),
}

fn not_found_page() -> Html<String> {
    message(
        "Attestation introuvable",
        "Cette adresse ne mène à aucune attestation : vérifiez-la, ou demandez à la personne qui vous l’a donnée de vous la renvoyer.",
        None,
    )
}

fn unavailable_page() -> Html<String> {
    message(
        "Service momentanément indisponible",
        "Cette page ne peut pas s’afficher pour l’instant. Réessayez dans quelques minutes.",
        None,
    )
}

fn invalid_email_page(back: &str) -> Html<String> {
    message(
        "Adresse e-mail à vérifier",
        "L’adresse e-mail saisie n’en est pas une (par exemple prenom.nom@exemple.fr). Revenez à votre espace pour la corriger.",
        Some((back, "Revenir à mon espace")),
    )
}

/// The statuses a page answers in French when something on the way fails; anything else is a
/// fault.
enum Trouble {
    TooMany,
    Unavailable,
}

fn trouble<E: From<ApiError>>(err: ApiError) -> Result<Trouble, E> {
    match err.status() {
        StatusCode::TOO_MANY_REQUESTS => Ok(Trouble::TooMany),
        StatusCode::SERVICE_UNAVAILABLE => {
            tracing::warn!(error = %err, "credential page unavailable");
            Ok(Trouble::Unavailable)
        }
        _ => Err(E::from(err)),
    }
}

/// The page, or the French page of what went wrong on the way.
fn answered<T: From<Trouble>, E: From<ApiError>>(result: Result<T, ApiError>) -> Result<T, E> {
    result.or_else(|err| trouble(err).map(Into::into))
}

impl From<Trouble> for CredentialPage {
    fn from(t: Trouble) -> Self {
        match t {
            Trouble::TooMany => CredentialPage::TooMany(too_many_page()),
            Trouble::Unavailable => CredentialPage::Unavailable(unavailable_page()),
        }
    }
}

impl From<Trouble> for CredentialFile {
    fn from(t: Trouble) -> Self {
        match t {
            Trouble::TooMany => CredentialFile::TooMany(too_many_page()),
            Trouble::Unavailable => CredentialFile::Unavailable(unavailable_page()),
        }
    }
}

impl From<Trouble> for CredentialsZip {
    fn from(t: Trouble) -> Self {
        match t {
            Trouble::TooMany => CredentialsZip::TooMany(too_many_page()),
            Trouble::Unavailable => CredentialsZip::Unavailable(unavailable_page()),
        }
    }
}

fn choice(form: &CredentialForm) -> SubjectChoice {
    match form.identite {
        Identity::Pseudonym => SubjectChoice::Pseudonym,
        Identity::Email => SubjectChoice::Email(form.courriel.clone().unwrap_or_default()),
        Identity::Name => SubjectChoice::Name,
    }
}

fn space_path(opened: &Opened, code: &str) -> String {
    format!("/p/{}/{code}", opened.tenant.slug)
}

async fn issue_one(
    state: &AppState,
    req: &Request,
    tenant: &str,
    code: &str,
    form: &CredentialForm,
) -> Result<CredentialPage, ApiError> {
    let Some(opened) = open_code(state, req, tenant, code).await? else {
        return Ok(CredentialPage::NotFound(not_found_page()));
    };
    let Some(key) = form
        .attestation
        .as_deref()
        .and_then(|a| a.parse::<AchievementKey>().ok())
    else {
        return Ok(CredentialPage::NotFound(not_found_page()));
    };
    let space = space_path(&opened, code);
    match credentials::issue(
        &state.db,
        &state.links.portfolio_key,
        &state.links.public_base_url,
        &opened,
        &key,
        &choice(form),
    )
    .await
    {
        Ok(issued) => Ok(CredentialPage::Found(format!(
            "{space}/attestations/{}",
            issued.id
        ))),
        Err(Error::NotFound(_)) => Ok(CredentialPage::NotFound(not_found_page())),
        Err(Error::Invalid(_)) => Ok(CredentialPage::Invalid(invalid_email_page(&space))),
        Err(err) => Err(err.into()),
    }
}

async fn holder_page(
    state: &AppState,
    req: &Request,
    tenant: &str,
    code: &str,
    id: &str,
) -> Result<CredentialPage, ApiError> {
    let Some(opened) = open_code(state, req, tenant, code).await? else {
        return Ok(CredentialPage::NotFound(not_found_page()));
    };
    let Ok(id) = Uuid::try_parse(id) else {
        return Ok(CredentialPage::NotFound(not_found_page()));
    };
    let Some(found) =
        credentials::issued_to(&state.db, &state.links.public_base_url, &opened, id).await?
    else {
        return Ok(CredentialPage::NotFound(not_found_page()));
    };
    let space = space_path(&opened, code);
    let url = &found.issued.verification_url;
    Ok(CredentialPage::Ok(page(
        "credential_holder.html",
        json!({
            "name": found.name,
            "territory": opened.tenant.shown_name(),
            "issued_on": french::long_date(found.issued_at.with_timezone(&opened.tenant.tz()).date_naive()),
            "revoked": found.revoked_at.is_some(),
            "file_url": format!("{space}/attestations/{id}/fichier"),
            "file_name": found.issued.file_name(),
            "verification_url": url,
            "qr": crate::qr::svg(url, 176, "Code QR du lien de vérification"),
            "back_url": space,
        }),
    )))
}

async fn holder_file(
    state: &AppState,
    req: &Request,
    tenant: &str,
    code: &str,
    id: &str,
) -> Result<CredentialFile, ApiError> {
    let Some(opened) = open_code(state, req, tenant, code).await? else {
        return Ok(CredentialFile::NotFound(not_found_page()));
    };
    let Ok(id) = Uuid::try_parse(id) else {
        return Ok(CredentialFile::NotFound(not_found_page()));
    };
    let Some(found) =
        credentials::issued_to(&state.db, &state.links.public_base_url, &opened, id).await?
    else {
        return Ok(CredentialFile::NotFound(not_found_page()));
    };
    let disposition = format!("attachment; filename=\"{}\"", found.issued.file_name());
    Ok(CredentialFile::Ok(
        Binary(found.issued.compact_jws.into_bytes()),
        disposition,
    ))
}

async fn holder_zip(
    state: &AppState,
    req: &Request,
    tenant: &str,
    code: &str,
    form: &CredentialForm,
) -> Result<CredentialsZip, ApiError> {
    let Some(opened) = open_code(state, req, tenant, code).await? else {
        return Ok(CredentialsZip::NotFound(not_found_page()));
    };
    let issued = match credentials::issue_all(
        &state.db,
        &state.links.portfolio_key,
        &state.links.public_base_url,
        &opened,
        &choice(form),
    )
    .await
    {
        Ok(issued) if issued.is_empty() => {
            return Ok(CredentialsZip::NotFound(not_found_page()));
        }
        Ok(issued) => issued,
        Err(Error::Invalid(_)) => {
            return Ok(CredentialsZip::Invalid(invalid_email_page(&space_path(
                &opened, code,
            ))));
        }
        Err(err) => return Err(err.into()),
    };
    let mut readme = format!(
        "Vos attestations délivrées par {} (Open Badges 3.0, signées).\r\n\r\nChaque fichier .jwt se vérifie avec n’importe quel outil compatible, ou sur la page de vérification indiquée :\r\n\r\n",
        opened.tenant.shown_name()
    );
    let mut buffer = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buffer);
        let options =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, one) in &issued {
            zip.start_file(one.file_name(), options)
                .map_err(|e| Error::Internal(format!("zip: {e}")))?;
            zip.write_all(one.compact_jws.as_bytes())
                .map_err(|e| Error::Internal(format!("zip: {e}")))?;
            readme.push_str(&format!(
                "- {name}\r\n  {}\r\n  {}\r\n\r\n",
                one.file_name(),
                one.verification_url
            ));
        }
        zip.start_file("LISEZMOI.txt", options)
            .map_err(|e| Error::Internal(format!("zip: {e}")))?;
        zip.write_all(readme.as_bytes())
            .map_err(|e| Error::Internal(format!("zip: {e}")))?;
        zip.finish()
            .map_err(|e| Error::Internal(format!("zip: {e}")))?;
    }
    let disposition = format!(
        "attachment; filename=\"attestations-{}-{}.zip\"",
        opened.tenant.slug,
        Utc::now().format("%Y-%m-%d")
    );
    Ok(CredentialsZip::Ok(Binary(buffer.into_inner()), disposition))
}

/// The verification page's facts, in French.
fn verification_context(slug: &str, v: &Verification) -> serde_json::Value {
    let c = &v.credential;
    let subject = &c["credentialSubject"];
    let identity = &subject["identifier"][0];
    let named = match identity["identityType"].as_str() {
        Some("emailAddress") => format!(
            "une adresse e-mail, sous forme d’empreinte : {}",
            identity["identityHash"].as_str().unwrap_or("")
        ),
        Some("name") => identity["identityHash"].as_str().unwrap_or("").to_owned(),
        _ => format!(
            "un identifiant pseudonyme : {}",
            subject["id"].as_str().unwrap_or("")
        ),
    };
    let day = |field: &str| {
        c[field]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| french::long_date(t.date_naive()))
    };
    let evidence: Vec<String> = c["evidence"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|e| {
                    format!(
                        "{} — {}",
                        e["name"].as_str().unwrap_or(""),
                        e["description"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "slug": slug,
        "valid": v.signature_holds && v.revoked_at.is_none(),
        "signature_holds": v.signature_holds,
        "revoked_on": v.revoked_at.map(|t| french::long_date(t.date_naive())),
        "issuer": v.issuer_name,
        "claimed_issuer": c["issuer"]["name"].as_str(),
        "achievement": c["name"].as_str(),
        "description": subject["achievement"]["description"].as_str(),
        "criteria": subject["achievement"]["criteria"]["narrative"].as_str(),
        "subject": named,
        "awarded_on": day("awardedDate"),
        "valid_from": day("validFrom"),
        "evidence": evidence,
        "id": c["id"].as_str(),
    })
}

async fn count_check(state: &AppState, req: &Request) -> Result<(), ApiError> {
    limits::rate::hit(
        state,
        "credential-check",
        &limits::client::of(req, state),
        CHECKS_PER_MINUTE,
    )
    .await
}

async fn public_page(
    state: &AppState,
    req: &Request,
    slug: &str,
    id: &str,
) -> Result<CredentialPage, ApiError> {
    count_check(state, req).await?;
    let Ok(id) = Uuid::try_parse(id) else {
        return Ok(CredentialPage::NotFound(not_found_page()));
    };
    match credentials::verify_issued(&state.db, &state.links.public_base_url, slug, id).await? {
        Some(Found::Verified(v)) => Ok(CredentialPage::Ok(page(
            "credential_check.html",
            verification_context(slug, &v),
        ))),
        Some(Found::Forgotten { issuer_name }) => Ok(CredentialPage::Ok(message(
            "Attestation dont le contenu est effacé",
            &format!(
                "{issuer_name} a bien délivré cette attestation, mais n’en conserve plus le contenu : les données de la personne ont été effacées. Le fichier qu’elle détient se vérifie toujours : collez-le sur la page de vérification."
            ),
            Some((&format!("/attestations/{slug}"), "Vérifier un fichier")),
        ))),
        None => Ok(CredentialPage::NotFound(not_found_page())),
    }
}

async fn check_form(state: &AppState, slug: &str) -> Result<CredentialPage, ApiError> {
    let Some(tenant) = passerelle_core::tenancy::tenants::find_by_slug(&state.db, slug).await?
    else {
        return Ok(CredentialPage::NotFound(not_found_page()));
    };
    Ok(CredentialPage::Ok(page(
        "credential_check_form.html",
        json!({ "territory": tenant.shown_name(), "slug": tenant.slug, "error": null }),
    )))
}

async fn check_pasted(
    state: &AppState,
    req: &Request,
    slug: &str,
    pasted: &str,
) -> Result<CredentialPage, ApiError> {
    count_check(state, req).await?;
    let Some(tenant) = passerelle_core::tenancy::tenants::find_by_slug(&state.db, slug).await?
    else {
        return Ok(CredentialPage::NotFound(not_found_page()));
    };
    match credentials::verify_presented(&state.db, &state.links.public_base_url, slug, pasted)
        .await?
    {
        Some(v) => Ok(CredentialPage::Ok(page(
            "credential_check.html",
            verification_context(slug, &v),
        ))),
        None => Ok(CredentialPage::Invalid(page(
            "credential_check_form.html",
            json!({
                "territory": tenant.shown_name(),
                "slug": tenant.slug,
                "error": "Ce texte n’est pas une attestation : collez le contenu entier du fichier .jwt reçu, sans rien ajouter.",
            }),
        ))),
    }
}

pub struct HolderCredentialPages;

#[OpenApi(tag = "Tag::Public")]
impl HolderCredentialPages {
    /// Issues (or gives again) one credential of the holder, named as they chose, and sends them
    /// to its page. No token needed: the code is the key.
    #[oai(
        path = "/p/:tenant/:code/attestations",
        method = "post",
        operation_id = "holderIssueCredential"
    )]
    async fn issue(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// The territory's short name, as in the letter's address.
        tenant: Path<String>,
        /// The holder's code, as on the letter.
        code: Path<String>,
        form: Form<CredentialForm>,
    ) -> Result<CredentialPage, PageFormFault> {
        answered(issue_one(&state, req, &tenant.0, &code.0, &form.0).await)
    }

    /// Every credential of the holder in a zip, named as they chose, with their verification
    /// links in `LISEZMOI.txt`.
    #[oai(
        path = "/p/:tenant/:code/attestations/toutes",
        method = "post",
        operation_id = "holderCredentialsZip"
    )]
    async fn zip(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// The territory's short name, as in the letter's address.
        tenant: Path<String>,
        /// The holder's code, as on the letter.
        code: Path<String>,
        form: Form<CredentialForm>,
    ) -> Result<CredentialsZip, PageFormFault> {
        answered(holder_zip(&state, req, &tenant.0, &code.0, &form.0).await)
    }

    /// One of the holder's credentials (French HTML): its file to download and its verification
    /// link, with a QR code, to give to a training body or an employer.
    #[oai(
        path = "/p/:tenant/:code/attestations/:credential_id",
        method = "get",
        operation_id = "holderCredentialPage"
    )]
    async fn holder_page(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// The territory's short name, as in the letter's address.
        tenant: Path<String>,
        /// The holder's code, as on the letter.
        code: Path<String>,
        /// The credential's id (the end of its verification link).
        credential_id: Path<String>,
    ) -> Result<CredentialPage, PageFault> {
        answered(holder_page(&state, req, &tenant.0, &code.0, &credential_id.0).await)
    }

    /// The credential's file: an Open Badges 3.0 credential as a compact JWS (`.jwt`).
    #[oai(
        path = "/p/:tenant/:code/attestations/:credential_id/fichier",
        method = "get",
        operation_id = "holderCredentialFile"
    )]
    async fn holder_file(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// The territory's short name, as in the letter's address.
        tenant: Path<String>,
        /// The holder's code, as on the letter.
        code: Path<String>,
        /// The credential's id (the end of its verification link).
        credential_id: Path<String>,
    ) -> Result<CredentialFile, PageFault> {
        answered(holder_file(&state, req, &tenant.0, &code.0, &credential_id.0).await)
    }

    /// A credential's public verification page (French HTML): who issued what to whom (the
    /// holder's pseudonym or hashed email, or their name if they chose it), when, on which
    /// sessions, and whether the signature holds and the credential is not revoked.
    #[oai(
        path = "/attestations/:slug/:credential_id",
        method = "get",
        operation_id = "credentialPage"
    )]
    async fn public_page(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// The issuing territory's short name.
        slug: Path<String>,
        /// The credential's id (the end of its verification link).
        credential_id: Path<String>,
    ) -> Result<CredentialPage, PageFault> {
        answered(public_page(&state, req, &slug.0, &credential_id.0).await)
    }

    /// Where anyone pastes a credential's file to check it against the territory's keys and
    /// revocation list (French HTML).
    #[oai(
        path = "/attestations/:slug",
        method = "get",
        operation_id = "credentialCheckForm"
    )]
    async fn check_form(
        &self,
        state: Data<&AppState>,
        /// The issuing territory's short name.
        slug: Path<String>,
    ) -> Result<CredentialPage, PageFault> {
        answered(check_form(&state, &slug.0).await)
    }

    /// The pasted credential, checked: the same page as its link shows, or the form again in
    /// French when the text is not a credential.
    #[oai(
        path = "/attestations/:slug",
        method = "post",
        operation_id = "credentialCheck"
    )]
    async fn check(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// The issuing territory's short name.
        slug: Path<String>,
        form: Form<CheckForm>,
    ) -> Result<CredentialPage, PageFormFault> {
        answered(check_pasted(&state, req, &slug.0, &form.0.attestation).await)
    }
}
