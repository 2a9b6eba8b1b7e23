//! A validator for the OpenStreetMap `opening_hours` syntax, for the subset EPN listings use:
//! `24/7`, and rules separated by `;` made of an optional day selector (`Mo-Fr`, `Tu,Th`, `PH`,
//! `Sa`) and time ranges (`09:00-12:00,14:00-18:30`) or `off`/`closed`. Anything else is refused
//! with the position of the fault, rather than stored and shown wrong.

const DAYS: [&str; 9] = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su", "PH", "SH"];

fn is_time(t: &str) -> bool {
    let Some((h, m)) = t.split_once(':') else {
        return false;
    };
    h.len() == 2
        && m.len() == 2
        && h.parse::<u32>().is_ok_and(|h| h <= 24)
        && m.parse::<u32>().is_ok_and(|m| m < 60)
        && (h != "24" || m == "00")
}

fn is_time_range(r: &str) -> bool {
    match r.split_once('-') {
        Some((a, b)) => is_time(a) && is_time(b),
        None => false,
    }
}

fn is_day_selector(s: &str) -> bool {
    s.split(',').all(|part| match part.split_once('-') {
        Some((a, b)) => DAYS[..7].contains(&a) && DAYS[..7].contains(&b),
        None => DAYS.contains(&part),
    })
}

/// `Ok` for a valid expression; `Err` names the rule at fault.
pub fn validate(expression: &str) -> Result<(), String> {
    let expression = expression.trim();
    if expression.is_empty() || expression.len() > 500 {
        return Err("between 1 and 500 characters".into());
    }
    if expression == "24/7" {
        return Ok(());
    }
    for rule in expression
        .split(';')
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        let (days, times) = match rule.split_once(' ') {
            Some((days, times)) if is_day_selector(days) => (Some(days), times.trim()),
            _ if is_day_selector(rule) => (Some(rule), ""),
            _ => (None, rule),
        };
        let times_ok = times.is_empty() && days.is_some()
            || matches!(times, "off" | "closed")
            || (!times.is_empty() && times.split(',').all(|r| is_time_range(r.trim())));
        if !times_ok {
            return Err(format!(
                "« {rule} » is not an OSM opening_hours rule (e.g. Mo-Fr 09:00-12:00,14:00-18:00; Sa 09:00-12:00)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_the_usual_listings_and_refuses_garbage() {
        for ok in [
            "24/7",
            "Mo-Fr 09:00-12:00,14:00-18:00",
            "Tu,Th 14:00-17:30; Sa 09:00-12:00; PH off",
            "Mo-Sa 08:30-24:00",
        ] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "lundi 9h-12h",
            "Mo-Fr 9:00-12:00",
            "Mo-Fr 09:00-25:00",
            "Xx 09:00-10:00",
            "Mo-Fr 09:60-10:00",
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }
}
