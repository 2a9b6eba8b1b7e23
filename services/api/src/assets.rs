//! The portal's own style sheets, compiled into the binary and served under `/static/passerelle/`:
//! pages carry no inline style, so the Content-Security-Policy can refuse any.

use poem::http::{StatusCode, header};
use poem::web::Path;
use poem::{Response, handler};

const PAGES: &str = include_str!("../static/passerelle.css");
const LETTER: &str = include_str!("../static/courrier.css");

#[handler]
pub fn style_sheet(Path(name): Path<String>) -> Response {
    let css = match name.as_str() {
        "passerelle.css" => PAGES,
        "courrier.css" => LETTER,
        _ => return Response::builder().status(StatusCode::NOT_FOUND).finish(),
    };
    Response::builder()
        .header(header::CONTENT_TYPE, "text/css; charset=utf-8")
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .body(css)
}
