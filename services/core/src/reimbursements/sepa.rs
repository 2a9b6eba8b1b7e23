//! The SEPA credit transfer file (ISO 20022 pain.001.001.03) paying a month's approved, unpaid
//! statements: the tenant's treasury account is the debtor, each statement one transfer with the
//! statement reference as EndToEndId. Every IBAN is checked before anything is written; sums and
//! counts are computed from the transfers themselves. Texts are reduced to the basic Latin
//! characters SEPA banks accept.

use chrono::{NaiveDate, Utc};
use iban::{Iban, IbanLike};
use serde_json::json;
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use super::{export::euros, month_of};
use crate::audit::{self, Actor};
use crate::refusal::Refusal;
use crate::{Db, Error};

/// What the file pays.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub reference: String,
    pub amount_cents: i64,
    pub creditor: String,
    pub iban: String,
    pub bic: Option<String>,
    pub remittance: String,
}

#[derive(Debug, Clone)]
pub struct SepaFile {
    pub name: String,
    pub xml: String,
    pub transfers: Vec<Transfer>,
    pub control_sum_cents: i64,
}

/// Basic Latin only (accents dropped), XML-escaped, cut to `max` characters.
fn sepa_text(s: &str, max: usize) -> String {
    let basic: String = s
        .nfd()
        .filter(|c| c.is_ascii())
        .map(|c| match c {
            'a'..='z'
            | 'A'..='Z'
            | '0'..='9'
            | '/'
            | '-'
            | '?'
            | ':'
            | '('
            | ')'
            | '.'
            | ','
            | '\''
            | '+'
            | ' ' => c,
            _ => ' ',
        })
        .collect();
    let cut: String = basic
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(max)
        .collect();
    cut.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
}

fn amount(cents: i64) -> String {
    euros(cents).replace(',', ".")
}

#[derive(sqlx::FromRow)]
struct Row {
    reference: String,
    total_cents: i64,
    epn_name: String,
    account_holder: Option<String>,
    iban: Option<String>,
    bic: Option<String>,
    scheme_name: String,
}

pub async fn month_file(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    month: NaiveDate,
) -> Result<SepaFile, Error> {
    let month = month_of(month);
    let mut secrets_tx = db.begin_tenant(tenant_id).await?;
    let tenant: (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    ) = sqlx::query_as(
        "SELECT t.slug, t.name, s.treasury_iban, s.treasury_bic, s.treasury_holder
           FROM tenants t LEFT JOIN tenant_secrets s ON s.tenant_id = $1 WHERE t.id = $1",
    )
    .bind(tenant_id)
    .fetch_one(&mut *secrets_tx)
    .await?;
    secrets_tx.commit().await?;
    let (slug, tenant_name, treasury_iban, treasury_bic, treasury_holder) = tenant;
    let debtor_iban = treasury_iban
        .as_deref()
        .and_then(|i| i.parse::<Iban>().ok())
        .ok_or_else(|| Error::from(Refusal::TreasuryAccountMissing))?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT st.reference, st.total_cents, e.name AS epn_name, e.account_holder, e.iban, e.bic, sc.name AS scheme_name
         FROM statements st
         JOIN epns e ON e.tenant_id = st.tenant_id AND e.id = st.epn_id
         JOIN schemes sc ON sc.tenant_id = st.tenant_id AND sc.id = st.scheme_id
         WHERE st.tenant_id = $2 AND st.month = $1 AND st.status = 'approved'
         ORDER BY e.name, sc.name",
    )
    .bind(month)
    .bind(tenant_id)
    .fetch_all(&mut *tx)
    .await?;
    let payable: Vec<&Row> = rows.iter().filter(|r| r.total_cents > 0).collect();
    if payable.is_empty() {
        return Err(Refusal::NothingToPay { month }.into());
    }
    let refused: Vec<String> = payable
        .iter()
        .filter(|r| {
            r.iban
                .as_deref()
                .and_then(|i| i.parse::<Iban>().ok())
                .is_none()
        })
        .map(|r| format!("{} ({})", r.epn_name, r.reference))
        .collect();
    if !refused.is_empty() {
        return Err(Refusal::IbanMissing { epns: refused }.into());
    }
    // Accents go with the rest of the text through `sepa_text`.
    let month_label = crate::emails::french::month_year(month);
    let transfers: Vec<Transfer> = payable
        .iter()
        .map(|r| Transfer {
            reference: r.reference.clone(),
            amount_cents: r.total_cents,
            creditor: r
                .account_holder
                .clone()
                .unwrap_or_else(|| r.epn_name.clone()),
            iban: r.iban.clone().unwrap_or_default(),
            bic: r.bic.clone(),
            remittance: format!("{} - {} - {}", r.scheme_name, month_label, r.reference),
        })
        .collect();
    let control_sum_cents: i64 = transfers.iter().map(|t| t.amount_cents).sum();
    let now = Utc::now();
    let message_id = sepa_text(
        &format!(
            "{}-{}-{}",
            slug,
            month.format("%Y%m"),
            now.format("%Y%m%d%H%M%S")
        ),
        35,
    );
    let mut xml = String::new();
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str(
        "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.03\">\n<CstmrCdtTrfInitn>\n",
    );
    xml.push_str(&format!(
        "<GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>{}</CreDtTm><NbOfTxs>{}</NbOfTxs><CtrlSum>{}</CtrlSum><InitgPty><Nm>{}</Nm></InitgPty></GrpHdr>\n",
        now.format("%Y-%m-%dT%H:%M:%S"),
        transfers.len(),
        amount(control_sum_cents),
        sepa_text(&tenant_name, 70)
    ));
    let debtor_agent = match &treasury_bic {
        Some(bic) => format!("<FinInstnId><BIC>{bic}</BIC></FinInstnId>"),
        None => "<FinInstnId><Othr><Id>NOTPROVIDED</Id></Othr></FinInstnId>".into(),
    };
    xml.push_str(&format!(
        "<PmtInf><PmtInfId>{message_id}</PmtInfId><PmtMtd>TRF</PmtMtd><BtchBookg>true</BtchBookg><NbOfTxs>{}</NbOfTxs><CtrlSum>{}</CtrlSum>\
         <PmtTpInf><SvcLvl><Cd>SEPA</Cd></SvcLvl></PmtTpInf><ReqdExctnDt>{}</ReqdExctnDt>\
         <Dbtr><Nm>{}</Nm></Dbtr><DbtrAcct><Id><IBAN>{}</IBAN></Id></DbtrAcct><DbtrAgt>{debtor_agent}</DbtrAgt><ChrgBr>SLEV</ChrgBr>\n",
        transfers.len(),
        amount(control_sum_cents),
        now.date_naive().format("%Y-%m-%d"),
        sepa_text(treasury_holder.as_deref().unwrap_or(&tenant_name), 70),
        debtor_iban.electronic_str(),
    ));
    for t in &transfers {
        let agent = t
            .bic
            .as_ref()
            .map(|bic| format!("<CdtrAgt><FinInstnId><BIC>{bic}</BIC></FinInstnId></CdtrAgt>"))
            .unwrap_or_default();
        xml.push_str(&format!(
            "<CdtTrfTxInf><PmtId><EndToEndId>{}</EndToEndId></PmtId><Amt><InstdAmt Ccy=\"EUR\">{}</InstdAmt></Amt>{agent}\
             <Cdtr><Nm>{}</Nm></Cdtr><CdtrAcct><Id><IBAN>{}</IBAN></Id></CdtrAcct><RmtInf><Ustrd>{}</Ustrd></RmtInf></CdtTrfTxInf>\n",
            sepa_text(&t.reference, 35),
            amount(t.amount_cents),
            sepa_text(&t.creditor, 70),
            t.iban,
            sepa_text(&t.remittance, 140),
        ));
    }
    xml.push_str("</PmtInf>\n</CstmrCdtTrfInitn>\n</Document>\n");
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "statements.sepa_exported",
        "month",
        month.format("%Y-%m"),
        json!({ "transfers": transfers.len(), "control_sum_cents": control_sum_cents,
                "skipped_without_amount": rows.len() - payable.len() }),
    )
    .await?;
    tx.commit().await?;
    Ok(SepaFile {
        name: format!("{slug}-virements-{}.xml", month.format("%Y-%m")),
        xml,
        transfers,
        control_sum_cents,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_basic_latin_and_escaped() {
        assert_eq!(
            sepa_text("Médiathèque d'Égletons & co", 140),
            "Mediatheque d&apos;Egletons co"
        );
        assert_eq!(
            sepa_text("Ticket Net – décembre", 140),
            "Ticket Net decembre"
        );
        assert_eq!(sepa_text("abcdef", 3), "abc");
        assert_eq!(amount(12_345), "123.45");
    }
}
