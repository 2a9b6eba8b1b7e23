//! The funder's pages: the published statistics files to download, and a dashboard of three
//! charts drawn on the server as SVG, each with its figures as a table for screen readers.

use passerelle_core::emails::french;
use passerelle_core::pagination::PageRequest;
use passerelle_core::schemes;
use passerelle_core::statistics::dashboard::{self, Figure};
use passerelle_core::statistics::{self, ExportFilter, ExportStatus, PeriodKind};
use poem::http::{StatusCode, header};
use poem::web::{Data, Path};
use poem::{Request, Response, handler};
use serde::Serialize;

use super::{OrBack, PageResult, Portal, message};
use crate::access;
use crate::state::AppState;

/// Only the tenant admin reads the files with small counts left in, and a funder's staff the
/// territory's exports and their own funder's (as in the API).
async fn reader(
    state: &AppState,
    portal: &Portal,
) -> Result<statistics::Reader, passerelle_core::Error> {
    statistics::Reader::of(
        &state.db,
        portal.tenant.id,
        portal.user.principal.role(),
        portal.user.principal.caller_id(),
    )
    .await
}

fn dataset_fr(dataset: &str) -> &'static str {
    match dataset.trim_end_matches("-published") {
        "indicators" => "Indicateurs",
        "vouchers" => "Chèques (une ligne par chèque, pseudonymisée)",
        "attendance_by_epn_module_month" => "Heures par EPN, module et mois",
        "competencies" => "Compétences travaillées",
        _ => "Données",
    }
}

fn period_fr(kind: PeriodKind, label: &str, start: chrono::NaiveDate) -> String {
    match kind {
        PeriodKind::Month => french::month_year(start),
        PeriodKind::Quarter => format!("trimestre {}", label.replace("-T", " T")),
        PeriodKind::Year => format!("année {label}"),
    }
}

fn size_fr(bytes: i64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} octets"),
        b if b < 1024 * 1024 => format!("{} Ko", b / 1024),
        b => format!("{:.1} Mo", b as f64 / (1024.0 * 1024.0)).replace('.', ","),
    }
}

#[handler]
pub(super) async fn exports(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::LIST_STATISTICS_EXPORTS).await?;
    let filter = ExportFilter {
        scheme_id: None,
        status: Some(ExportStatus::Succeeded),
    };
    let listed = statistics::list(
        &state.db,
        portal.tenant.id,
        &filter,
        reader(&state, &portal).await?,
    )
    .await?;
    let page = PageRequest::parse(Some(100), None)?;
    let schemes = schemes::list(&state.db, portal.tenant.id, page)
        .await?
        .items;
    // A person reads the scheme's name; the files keep its code.
    let scheme_name = |id: uuid::Uuid, code: &str| {
        schemes
            .iter()
            .find(|s| s.id == id)
            .map_or_else(|| code.to_owned(), |s| s.name.clone())
    };
    let rows: Vec<ExportRow> = listed
        .iter()
        .filter(|(_, files)| !files.is_empty())
        .map(|(export, files)| {
            let label = export.period().label();
            ExportRow {
                scheme: scheme_name(export.scheme_id, &export.scheme_code),
                period: period_fr(export.period_kind, &label, export.period_start),
                finished: export
                    .finished_at
                    .map(|t| french::long_date(t.with_timezone(&portal.tenant.tz()).date_naive())),
                files: files
                    .iter()
                    .map(|f| FileRow {
                        href: format!("{}/statistiques/{}/{}", portal.path(), export.id, f.name),
                        name: f.name.clone(),
                        dataset: dataset_fr(&f.dataset),
                        format: f.format.to_uppercase(),
                        rows: f.row_count,
                        size: size_fr(f.byte_size),
                        published: f.published,
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(portal.page(
        StatusCode::OK,
        "exports.html",
        ExportsView { exports: rows },
    ))
}

#[handler]
pub(super) async fn download(
    Path((slug, id, name)): Path<(String, String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::DOWNLOAD_STATISTICS_FILE).await?;
    let id = super::path_id(&id, "statistics file")?;
    let back = format!("{}/statistiques", portal.path());
    let opened = statistics::open_file(
        &state.db,
        &state.statistics_dir,
        portal.tenant.id,
        portal.actor(),
        id,
        &name,
        reader(&state, &portal).await?,
    )
    .await;
    let (file, path) = opened.or_back(&back, "Revenir aux statistiques")?;
    match tokio::fs::read(&path).await {
        Ok(bytes) => Ok(Response::builder()
            .status(StatusCode::OK)
            .content_type(file.content_type())
            .header(
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", file.name),
            )
            .header(header::CACHE_CONTROL, "no-store")
            .body(bytes)),
        Err(e) => {
            tracing::error!(error = %e, file = %file.name, "statistics file unreadable");
            Ok(message(
                StatusCode::CONFLICT,
                "Fichier indisponible",
                "Ce fichier est enregistré mais ne peut pas être lu pour l’instant. Prévenez l’administrateur de l’espace.",
                Some((&back, "Revenir aux statistiques")),
            ))
        }
    }
}

/// A bar of a chart: its place in the SVG's own units, and what it says.
#[derive(Serialize)]
struct Bar {
    label: String,
    /// The label cut to fit beside the bar.
    short: String,
    /// Out of 100, to one decimal.
    length: f64,
    text: String,
    /// Under the threshold: hatched, and no figure.
    withheld: bool,
}

/// A month of the chart: vouchers issued and completed.
#[derive(Serialize)]
struct MonthBars {
    label: String,
    short: String,
    issued: Bar,
    completed: Bar,
}

/// The dashboard: twelve months, the EPNs' hours and each public's completion rate.
#[derive(Serialize)]
struct DashboardView {
    period: String,
    threshold: i32,
    months: Vec<MonthBars>,
    epns: Vec<Bar>,
    categories: Vec<Bar>,
}

/// A file of an export, as the statistics page lists it.
#[derive(Serialize)]
struct FileRow {
    href: String,
    name: String,
    dataset: &'static str,
    format: String,
    rows: i64,
    size: String,
    published: bool,
}

/// An export with its files.
#[derive(Serialize)]
struct ExportRow {
    scheme: String,
    period: String,
    finished: Option<String>,
    files: Vec<FileRow>,
}

/// The statistics page.
#[derive(Serialize)]
struct ExportsView {
    exports: Vec<ExportRow>,
}

fn bar(label: String, value: Figure, max: i64, text: String) -> Bar {
    let length = value.map_or(0.0, |v| {
        if max == 0 {
            0.0
        } else {
            v as f64 / max as f64 * 100.0
        }
    });
    let short = if label.chars().count() > 34 {
        format!("{}…", label.chars().take(33).collect::<String>())
    } else {
        label.clone()
    };
    Bar {
        label,
        short,
        length: (length * 10.0).round() / 10.0,
        text,
        withheld: value.is_none(),
    }
}

fn figure_text(value: Figure, threshold: i32, unit: impl Fn(i64) -> String) -> String {
    value.map_or_else(
        || format!("moins de {threshold} personnes : non publié"),
        unit,
    )
}

#[handler]
pub(super) async fn charts(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::LIST_STATISTICS_EXPORTS).await?;
    // A funder's staff see the vouchers their funder co-finances; the territory sees them all.
    let scope = passerelle_core::funders::scope_of(
        &state.db,
        portal.tenant.id,
        portal.user.principal.caller_id(),
    )
    .await?;
    let board = dashboard::dashboard(&state.db, portal.tenant.id, None, scope).await?;
    let threshold = board.threshold;
    let count = |n: i64| n.to_string();
    let month_max = board
        .months
        .iter()
        .flat_map(|m| [m.issued, m.completed])
        .flatten()
        .max()
        .unwrap_or(0);
    let months: Vec<MonthBars> = board
        .months
        .iter()
        .map(|m| {
            let label = french::month_year(m.month);
            MonthBars {
                short: format!("{}", m.month.format("%m/%y")),
                issued: bar(
                    label.clone(),
                    m.issued,
                    month_max,
                    figure_text(m.issued, threshold, count),
                ),
                completed: bar(
                    label.clone(),
                    m.completed,
                    month_max,
                    figure_text(m.completed, threshold, count),
                ),
                label,
            }
        })
        .collect();
    let hours_max = board
        .epns
        .iter()
        .filter_map(|e| e.minutes)
        .max()
        .unwrap_or(0);
    let epns: Vec<Bar> = board
        .epns
        .iter()
        .map(|e| {
            bar(
                e.epn.clone(),
                e.minutes,
                hours_max,
                figure_text(e.minutes, threshold, |m| {
                    french::duration(i32::try_from(m).unwrap_or(i32::MAX))
                }),
            )
        })
        .collect();
    let categories: Vec<Bar> = board
        .categories
        .iter()
        .map(|c| {
            let rate = match (c.issued, c.completed) {
                (Some(issued), Some(completed)) if issued > 0 => Some(completed * 100 / issued),
                _ => None,
            };
            bar(
                passerelle_core::labels::public_category(c.category).to_owned(),
                rate,
                100,
                rate.map_or_else(
                    || format!("moins de {threshold} personnes : non publié"),
                    |r| {
                        format!(
                            "{r} % ({} sur {})",
                            c.completed.unwrap_or(0),
                            c.issued.unwrap_or(0)
                        )
                    },
                ),
            )
        })
        .collect();
    let period = format!(
        "de {} à {}",
        french::month_year(board.first_month),
        french::month_year(board.months.last().map_or(board.first_month, |m| m.month))
    );
    Ok(portal.page(
        StatusCode::OK,
        "dashboard.html",
        DashboardView {
            period,
            threshold,
            months,
            epns,
            categories,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dashboard_draws_each_bar_and_hatches_withheld_figures() {
        let months = vec![MonthBars {
            label: "octobre 2026".into(),
            short: "10/26".into(),
            issued: bar("octobre 2026".into(), Some(40), 40, "40".into()),
            completed: bar(
                "octobre 2026".into(),
                None,
                40,
                "moins de 5 personnes : non publié".into(),
            ),
        }];
        let epns = vec![bar(
            "Espace public numérique de la médiathèque intercommunale du Grand Figeac".into(),
            Some(600),
            600,
            "10 heures".into(),
        )];
        let html = crate::pages::render(
            "dashboard.html",
            serde_json::json!({
                "period": "de décembre 2025 à novembre 2026",
                "threshold": 5,
                "months": months,
                "epns": epns,
                "categories": [bar("Retraités ou futurs retraités".into(), Some(50), 100, "50 % (10 sur 20)".into())],
                "portal": { "tenant_name": "Lot", "path": "/portail/lot", "display_name": "Démo", "csrf_token": "x" },
            }),
        );
        assert!(!html.contains("momentanément indisponible"), "{html}");
        assert!(html.contains("y=\"20.0\" width=\"18\" height=\"200.0\" fill=\"#000091\""));
        assert!(html.contains("y=\"204\" width=\"18\" height=\"16\" fill=\"url(#hachures)\""));
        assert!(html.contains(">Espace public numérique de la méd…</text>"));
        assert!(html.contains("width=\"130.0\" height=\"20\" fill=\"#18753c\""));
    }
}
