//! A territory's branding: the name people know it by, the sender of its emails, and its logo,
//! shown on its portal and public pages, its letters and its emails.
//!
//! A logo is shown to every visitor of the territory's pages, so what is accepted is checked
//! here, whoever sends it: a PNG is decoded whole (a truncated or forged file is refused), an SVG
//! is parsed as XML without DTDs and may hold no script, event handler or reference outside
//! itself (it is also served under a sandboxing policy, in case a browser opens it on its own).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::error::Validator;
use crate::refusal::Refusal;
use crate::storage::{Change, Tx};
use crate::tenancy::tenants::{self, Tenant, is_email};
use crate::{Db, Error};

/// A logo weighs at most this much: it is sent with every page that shows it.
pub const LOGO_MAX_BYTES: usize = 512 * 1024;
/// A PNG logo's sides, in pixels: readable when printed, not a photograph.
pub const LOGO_MIN_SIDE: u32 = 16;
pub const LOGO_MAX_SIDE: u32 = 4000;

/// How a logo is stored and served.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    sqlx::Type,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::Display,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum LogoFormat {
    Png,
    Svg,
}

impl LogoFormat {
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Svg => "image/svg+xml",
        }
    }
}

/// A logo's public address, relative to the service: it carries the start of the digest, so that
/// it can be cached for long and a new logo is a new address.
pub fn logo_path(slug: &str, sha256: &str) -> String {
    format!(
        "/territoires/{slug}/logo?v={}",
        sha256.get(..16).unwrap_or(sha256)
    )
}

/// A logo that passed the checks, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedLogo {
    pub format: LogoFormat,
    /// A PNG's size in pixels; `None` for an SVG, which scales.
    pub size: Option<(u32, u32)>,
}

/// A stored logo with its bytes, as the public address serves it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Logo {
    pub format: LogoFormat,
    pub content: Vec<u8>,
    pub sha256: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub updated_at: DateTime<Utc>,
}

/// The branding as the territory's admin reads and edits it.
#[derive(Debug, Clone)]
pub struct Branding {
    /// The registered name (set by the platform) and the name shown, when the territory chose one.
    pub name: String,
    pub display_name: Option<String>,
    pub sender_name: String,
    pub sender_email: String,
    pub logo: Option<LogoSummary>,
}

/// A stored logo without its bytes.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LogoSummary {
    pub format: LogoFormat,
    pub byte_size: i32,
    pub sha256: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub updated_at: DateTime<Utc>,
}

/// The edits of a branding: a field left out (`None`) keeps its value; a display name cleared
/// (`Some(None)`, or empty) goes back to the registered name.
#[derive(Debug, Clone, Default)]
pub struct BrandingChanges {
    pub display_name: Option<Option<String>>,
    pub sender_name: Option<String>,
    pub sender_email: Option<String>,
}

/// Whether `content` is a logo the service may show, and what it is.
pub fn check_logo(content: &[u8]) -> Result<CheckedLogo, Refusal> {
    if content.len() > LOGO_MAX_BYTES {
        return Err(Refusal::LogoTooLarge {
            size_kib: content.len().div_ceil(1024),
            max_kib: LOGO_MAX_BYTES / 1024,
        });
    }
    if content.starts_with(b"\x89PNG\r\n\x1a\n") {
        check_png(content)
    } else {
        check_svg(content)
    }
}

fn unreadable(reason: impl ToString) -> Refusal {
    Refusal::LogoUnreadable {
        reason: reason.to_string(),
    }
}

fn check_png(content: &[u8]) -> Result<CheckedLogo, Refusal> {
    // The decoded image is held in memory while it is checked: a small file must not unfold
    // into gigabytes.
    let limits = png::Limits {
        bytes: (LOGO_MAX_SIDE as usize) * (LOGO_MAX_SIDE as usize) * 8,
    };
    let decoder = png::Decoder::new_with_limits(std::io::Cursor::new(content), limits);
    let mut reader = decoder.read_info().map_err(unreadable)?;
    let (width, height) = (reader.info().width, reader.info().height);
    let sides = LOGO_MIN_SIDE..=LOGO_MAX_SIDE;
    if !sides.contains(&width) || !sides.contains(&height) {
        return Err(Refusal::LogoDimensions {
            width,
            height,
            min: LOGO_MIN_SIDE,
            max: LOGO_MAX_SIDE,
        });
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| unreadable("image too large to decode"))?;
    let mut pixels = vec![0; size];
    reader.next_frame(&mut pixels).map_err(unreadable)?;
    Ok(CheckedLogo {
        format: LogoFormat::Png,
        size: Some((width, height)),
    })
}

/// Elements that run code or embed another document.
const UNSAFE_ELEMENTS: [&str; 9] = [
    "script",
    "foreignObject",
    "iframe",
    "object",
    "embed",
    "handler",
    "listener",
    "audio",
    "video",
];

fn check_svg(content: &[u8]) -> Result<CheckedLogo, Refusal> {
    let text = std::str::from_utf8(content).map_err(|_| unreadable("neither PNG nor UTF-8 SVG"))?;
    // roxmltree refuses a DTD by default: no entity expansion, no outside entity.
    let document = roxmltree::Document::parse(text).map_err(unreadable)?;
    let root = document.root_element();
    if root.tag_name().name() != "svg"
        || root.tag_name().namespace() != Some("http://www.w3.org/2000/svg")
    {
        return Err(unreadable("the root element is not an SVG <svg>"));
    }
    let unsafe_because = |what: String| Refusal::LogoUnsafe { what };
    for node in root.descendants() {
        if node.is_element() {
            let name = node.tag_name().name();
            if UNSAFE_ELEMENTS
                .iter()
                .any(|unsafe_name| name.eq_ignore_ascii_case(unsafe_name))
            {
                return Err(unsafe_because(format!("un élément <{name}>")));
            }
            for attribute in node.attributes() {
                let attribute_name = attribute.name();
                if attribute_name.to_ascii_lowercase().starts_with("on") {
                    return Err(unsafe_because(format!(
                        "une réaction à un événement ({attribute_name})"
                    )));
                }
                if attribute_name == "href" && !attribute.value().trim_start().starts_with('#') {
                    return Err(unsafe_because(format!(
                        "un lien vers « {} »",
                        shortened(attribute.value())
                    )));
                }
                if attribute_name == "style" {
                    refuse_outside_style(attribute.value()).map_err(unsafe_because)?;
                }
            }
        }
        if node.is_text()
            && node
                .parent_element()
                .is_some_and(|p| p.has_tag_name("style"))
        {
            refuse_outside_style(node.text().unwrap_or_default()).map_err(unsafe_because)?;
        }
    }
    Ok(CheckedLogo {
        format: LogoFormat::Svg,
        size: None,
    })
}

/// A style may point inside the file (`url(#gradient)`), not outside it.
fn refuse_outside_style(style: &str) -> Result<(), String> {
    let folded: String = style
        .to_ascii_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if folded.contains("@import") {
        return Err("une feuille de style importée".into());
    }
    let mut rest = folded.as_str();
    while let Some(at) = rest.find("url(") {
        rest = &rest[at + 4..];
        let target = rest.trim_start_matches(['"', '\'']);
        if !target.starts_with('#') {
            return Err(format!(
                "une référence de style vers « {} »",
                shortened(target)
            ));
        }
    }
    Ok(())
}

fn shortened(text: &str) -> String {
    let short: String = text.chars().take(60).collect();
    if short.len() < text.len() {
        format!("{short}…")
    } else {
        short
    }
}

pub async fn get(db: &Db, tenant_id: Uuid) -> Result<Branding, Error> {
    let tenant = tenants::get(db, tenant_id).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let logo: Option<LogoSummary> = sqlx::query_as(
        "SELECT format, octet_length(content) AS byte_size, sha256, width, height, updated_at
           FROM tenant_logos WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Branding {
        name: tenant.name,
        display_name: tenant.display_name,
        sender_name: tenant.sender_name,
        sender_email: tenant.sender_email,
        logo,
    })
}

/// Changes the shown name and the emails' sender, checked as on creation; audited with the values
/// before and after. The worker's senders see the new sender within a minute (their tenant cache).
pub async fn update(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    changes: BrandingChanges,
) -> Result<Branding, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let before: Tenant = sqlx::query_as("SELECT * FROM tenants WHERE id = $1 FOR UPDATE")
        .bind(tenant_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    let display_name = match changes.display_name {
        None => before.display_name.clone(),
        Some(name) => name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()),
    };
    let sender_name = changes
        .sender_name
        .map_or_else(|| before.sender_name.clone(), |n| n.trim().to_owned());
    let sender_email = changes
        .sender_email
        .map_or_else(|| before.sender_email.clone(), |e| e.trim().to_owned());
    let mut v = Validator::default();
    v.check(
        display_name
            .as_deref()
            .is_none_or(|n| n.chars().count() <= 120),
        "display_name",
        "at most 120 characters (empty: the territory's registered name)",
    )
    .check(
        !sender_name.is_empty() && sender_name.chars().count() <= 200,
        "sender_name",
        "between 1 and 200 characters",
    )
    .check(is_email(&sender_email), "sender_email", "an email address");
    v.finish()?;
    sqlx::query(
        "UPDATE tenants SET display_name = $2, sender_name = $3, sender_email = $4 WHERE id = $1",
    )
    .bind(tenant_id)
    .bind(&display_name)
    .bind(&sender_name)
    .bind(&sender_email)
    .execute(&mut *tx)
    .await?;
    tx.changed(Change::Tenant(tenant_id)).await?;
    let pairs = [
        ("display_name", before.display_name.clone(), display_name),
        ("sender_name", Some(before.sender_name), Some(sender_name)),
        (
            "sender_email",
            Some(before.sender_email),
            Some(sender_email),
        ),
    ];
    if let Some(details) = audit::changes(pairs) {
        audit::record(
            &mut tx,
            tenant_id,
            actor,
            "tenant.branding_updated",
            "tenant",
            tenant_id,
            details,
        )
        .await?;
    }
    tx.commit().await?;
    get(db, tenant_id).await
}

/// Stores `content` as the territory's logo once it passes `check_logo`, replacing the previous
/// one; audited with both digests.
pub async fn set_logo(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    content: &[u8],
) -> Result<Branding, Error> {
    let checked = check_logo(content)?;
    let sha256 = hex::encode(Sha256::digest(content));
    let (width, height) = checked.size.map_or((None, None), |(w, h)| {
        (i32::try_from(w).ok(), i32::try_from(h).ok())
    });
    let mut tx = db.begin_tenant(tenant_id).await?;
    let previous = current_logo_locked(&mut tx, tenant_id).await?;
    sqlx::query(
        "INSERT INTO tenant_logos (tenant_id, format, content, sha256, width, height)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant_id) DO UPDATE
            SET format = EXCLUDED.format, content = EXCLUDED.content, sha256 = EXCLUDED.sha256,
                width = EXCLUDED.width, height = EXCLUDED.height, updated_at = EXCLUDED.updated_at",
    )
    .bind(tenant_id)
    .bind(checked.format)
    .bind(content)
    .bind(&sha256)
    .bind(width)
    .bind(height)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE tenants SET logo_format = $2, logo_sha256 = $3 WHERE id = $1")
        .bind(tenant_id)
        .bind(checked.format)
        .bind(&sha256)
        .execute(&mut *tx)
        .await?;
    tx.changed(Change::Tenant(tenant_id)).await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "tenant.logo_set",
        "tenant",
        tenant_id,
        serde_json::json!({
            "format": checked.format,
            "bytes": content.len(),
            "sha256": sha256,
            "previous_sha256": previous,
        }),
    )
    .await?;
    tx.commit().await?;
    get(db, tenant_id).await
}

/// The current logo's digest, the tenant's row locked: two logos sent at once are stored one
/// after the other, each audited with the one it replaced.
async fn current_logo_locked(tx: &mut Tx, tenant_id: Uuid) -> Result<Option<String>, Error> {
    Ok(
        sqlx::query_scalar("SELECT logo_sha256 FROM tenants WHERE id = $1 FOR UPDATE")
            .bind(tenant_id)
            .fetch_one(&mut **tx)
            .await?,
    )
}

/// Takes the logo away: the pages show the territory's name alone. Audited; nothing to remove is
/// not an error.
pub async fn remove_logo(db: &Db, tenant_id: Uuid, actor: Actor) -> Result<(), Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let previous = current_logo_locked(&mut tx, tenant_id).await?;
    if let Some(previous) = previous {
        sqlx::query("DELETE FROM tenant_logos WHERE tenant_id = $1")
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE tenants SET logo_format = NULL, logo_sha256 = NULL WHERE id = $1")
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        tx.changed(Change::Tenant(tenant_id)).await?;
        audit::record(
            &mut tx,
            tenant_id,
            actor,
            "tenant.logo_removed",
            "tenant",
            tenant_id,
            serde_json::json!({ "previous_sha256": previous }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The logo with its bytes, for its public address.
pub async fn logo(db: &Db, tenant_id: Uuid) -> Result<Option<Logo>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let logo = sqlx::query_as(
        "SELECT format, content, sha256, width, height, updated_at FROM tenant_logos WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(logo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("header");
        writer
            .write_image_data(&vec![0x80; (width * height * 4) as usize])
            .expect("data");
        writer.finish().expect("finish");
        out
    }

    #[test]
    fn a_png_is_decoded_whole_and_its_sides_checked() {
        let good = png(120, 40);
        assert_eq!(
            check_logo(&good),
            Ok(CheckedLogo {
                format: LogoFormat::Png,
                size: Some((120, 40))
            })
        );
        assert!(matches!(
            check_logo(&png(8, 40)),
            Err(Refusal::LogoDimensions { width: 8, .. })
        ));
        // Truncated: the signature and header are there, the pixels are not.
        assert!(matches!(
            check_logo(&good[..good.len() - 30]),
            Err(Refusal::LogoUnreadable { .. })
        ));
        // A header claiming more pixels than allowed is refused before anything is decoded.
        let mut giant = good.clone();
        giant[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(check_logo(&giant).is_err());
        assert!(matches!(
            check_logo(&vec![0; LOGO_MAX_BYTES + 1]),
            Err(Refusal::LogoTooLarge { max_kib: 512, .. })
        ));
        assert!(matches!(
            check_logo(b"GIF89a..."),
            Err(Refusal::LogoUnreadable { .. })
        ));
    }

    const SVG_HEAD: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 10 10">"#;

    fn svg(body: &str) -> Vec<u8> {
        format!("{SVG_HEAD}{body}</svg>").into_bytes()
    }

    #[test]
    fn a_plain_svg_is_accepted_with_its_inner_references() {
        let logo = svg(
            r##"<defs><linearGradient id="g"><stop offset="0" stop-color="#000091"/></linearGradient></defs>
            <style>.a { fill: url(#g); }</style>
            <rect class="a" width="10" height="10" style="fill: url('#g')"/><use href="#g"/><use xlink:href="#g"/>"##,
        );
        assert_eq!(
            check_logo(&logo),
            Ok(CheckedLogo {
                format: LogoFormat::Svg,
                size: None
            })
        );
    }

    #[test]
    fn an_svg_with_code_or_outside_references_is_refused() {
        for body in [
            "<script>alert(1)</script>",
            "<SCRIPT>alert(1)</SCRIPT>",
            r#"<rect width="1" height="1" onclick="alert(1)"/>"#,
            r#"<rect width="1" height="1" OnLoad="alert(1)"/>"#,
            r#"<foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject>"#,
            r#"<image href="https://tracker.example/p.png"/>"#,
            r#"<a xlink:href="javascript:alert(1)"><rect width="1" height="1"/></a>"#,
            r#"<use href="other.svg#a"/>"#,
            r#"<rect style="fill: url(https://tracker.example/p)"/>"#,
            r#"<style>@import "https://tracker.example/s.css";</style>"#,
            r#"<style>rect { fill: URL( "https://x.example/p" ) }</style>"#,
        ] {
            assert!(
                matches!(check_logo(&svg(body)), Err(Refusal::LogoUnsafe { .. })),
                "{body}"
            );
        }
    }

    #[test]
    fn what_is_not_an_svg_is_unreadable() {
        for content in [
            // An entity declaration: DTDs are refused (no billion laughs, no outside entity).
            r#"<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>"#,
            r#"<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>"#,
            "<svg>no namespace</svg>",
            "<svg xmlns=\"http://www.w3.org/2000/svg\">",
        ] {
            assert!(
                matches!(
                    check_logo(content.as_bytes()),
                    Err(Refusal::LogoUnreadable { .. })
                ),
                "{content}"
            );
        }
    }
}
