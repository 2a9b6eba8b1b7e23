//! QR codes drawn as inline SVG: the voucher letter and the holder's renewed link carry one, so a
//! phone's camera opens the holder's page without typing. Inline, because the pages allow no
//! script and no image from elsewhere; drawn with attributes only, which the
//! Content-Security-Policy accepts.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// `text` as an accessible SVG QR code, at least `size` CSS pixels wide (with its quiet zone).
/// Error correction M: a folded or slightly smudged letter still reads.
pub fn svg(text: &str, size: u32, label: &str) -> String {
    let Ok(code) = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M) else {
        // Only a text far longer than an address is refused; the page then shows the address.
        return String::new();
    };
    let drawn = code
        .render::<svg::Color>()
        .min_dimensions(size, size)
        .quiet_zone(true)
        .build();
    let start = drawn.find("<svg").unwrap_or(0);
    let label = label
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    drawn[start..].replacen(
        "<svg ",
        &format!(r#"<svg role="img" aria-label="{label}" class="qr" "#),
        1,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_drawing_is_a_labelled_inline_svg() {
        let drawn = super::svg(
            "https://passerelle.example.fr/p/lot/ABCD",
            120,
            "Code \"QR\"",
        );
        assert!(
            drawn.starts_with(r#"<svg role="img" aria-label="Code &quot;QR&quot;" class="qr" "#)
        );
        assert!(drawn.ends_with("</svg>"));
        assert!(!drawn.contains("<?xml"));
        assert!(!drawn.contains("style"));
    }
}
