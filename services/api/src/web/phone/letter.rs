//! `GET …/epn/telephone/courrier?code=…`: the vouchers of the person whose letter the phone
//! scanned, when none is on the week the phone keeps — typically a voucher to register after the
//! interview. Asked only with the network; the code is not kept.

use passerelle_core::delivery::phone;
use poem::http::StatusCode;
use poem::web::{Data, Path, Query};
use poem::{Request, Response, handler};
use serde::{Deserialize, Serialize};

use super::{animator, json, unavailable};
use crate::state::AppState;

#[derive(Deserialize)]
pub(in crate::web) struct Scanned {
    #[serde(default)]
    code: String,
}

#[derive(Serialize)]
struct Found {
    reference: String,
    registered_here: bool,
}

#[derive(Serialize)]
struct LetterView {
    vouchers: Vec<Found>,
}

#[handler]
pub(in crate::web) async fn look_up(
    Path(slug): Path<String>,
    Query(scanned): Query<Scanned>,
    state: Data<&AppState>,
    req: &Request,
) -> Response {
    let (portal, epn_id) = match animator(&state, req, &slug).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    match phone::vouchers_of_letter(&state.db, &portal.tenant, epn_id, &scanned.code).await {
        Ok(vouchers) => json(
            StatusCode::OK,
            &LetterView {
                vouchers: vouchers
                    .into_iter()
                    .map(|v| Found {
                        reference: v.reference,
                        registered_here: v.registered_here,
                    })
                    .collect(),
            },
        ),
        Err(e) => {
            tracing::error!(error = %e, "letter look-up failed");
            unavailable()
        }
    }
}
