//! Opening hours in the OpenStreetMap `opening_hours` syntax, as the national schema asks. The
//! whole grammar is parsed by the `opening-hours-syntax` crate (fallback rules `||`, month and
//! week selectors, holidays, comments), so any expression that OSM tools accept is accepted here.

/// The longest expression kept: real listings stay far below it.
pub const MAX_CHARS: usize = 1000;

/// `Ok` for a valid expression; `Err` says what is wrong, with the position of the fault.
pub fn validate(expression: &str) -> Result<(), String> {
    let expression = expression.trim();
    if expression.is_empty() || expression.chars().count() > MAX_CHARS {
        return Err(format!("between 1 and {MAX_CHARS} characters"));
    }
    opening_hours_syntax::parse(expression).map(|_| ()).map_err(|e| {
        let detail = e.to_string();
        let first = detail.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        format!(
            "« {expression} » is not an OSM opening_hours expression (e.g. Mo-Fr 09:00-12:00,14:00-18:00; Sa 09:00-12:00){}",
            if first.is_empty() { String::new() } else { format!(" : {}", first.trim()) }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_the_full_grammar_and_refuses_garbage() {
        for ok in [
            "24/7",
            "Mo-Fr 09:00-12:00,14:00-18:00",
            "Tu,Th 14:00-17:30; Sa 09:00-12:00; PH off",
            "Mo-Sa 08:30-24:00",
            "Mo-Fr 09:00-17:00 || \"sur rendez-vous\"",
            "Jan-Jun,Sep-Dec Mo-Fr 09:00-12:00; Jul,Aug off",
            "Mo-Fr 09:00-12:00 \"accueil libre\"; We 14:00-17:00 \"ateliers\"",
            "week 1-53/2 Sa 10:00-12:00",
        ] {
            assert!(validate(ok).is_ok(), "{ok}: {:?}", validate(ok));
        }
        for bad in [
            "",
            "lundi 9h-12h",
            "Mo-Fr 09:00-",
            "Mo-Fr 9h-12h",
            "Xx 09:00-10:00",
            "Mo-Fr 09:60-10:00",
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }
}
