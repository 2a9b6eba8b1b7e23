//! What the portal's forms share: reading their text fields, and turning lists into `<select>`
//! options.

/// A text field, trimmed; `None` when left empty.
pub(super) fn optional(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// A parameter of the page's address (`?name=value`), decoded; `None` when absent or empty.
pub(super) fn query_param(req: &poem::Request, name: &str) -> Option<String> {
    req.params::<std::collections::HashMap<String, String>>()
        .ok()?
        .remove(name)
        .filter(|value| !value.is_empty())
}

/// A checkbox: browsers send it only when ticked.
pub(super) fn ticked(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| !v.is_empty())
}

/// An amount in euros as a person types it ("5", "5,50", "5.5 €") in cents.
pub(super) fn euros_to_cents(text: &str) -> Option<i64> {
    let text: String = text
        .trim()
        .trim_end_matches('€')
        .trim()
        .replace(',', ".")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if text.is_empty() {
        return Some(0);
    }
    let (units, fraction) = text.split_once('.').unwrap_or((&text, ""));
    if units.is_empty() && fraction.is_empty()
        || !units.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > 2
    {
        return None;
    }
    let units: i64 = if units.is_empty() {
        0
    } else {
        units.parse().ok()?
    };
    let cents: i64 = format!("{fraction:0<2}").parse().ok()?;
    units.checked_mul(100)?.checked_add(cents)
}

/// A form sent with a file (`enctype="multipart/form-data"`): its text fields, and the file of
/// the field `fichier` when it was sent and is at most `max_bytes`.
pub(super) struct Upload {
    pub fields: std::collections::HashMap<String, String>,
    pub file: Option<Vec<u8>>,
    /// The file (or the request) was larger than allowed.
    pub too_big: bool,
}

impl Upload {
    pub async fn read(mut multipart: poem::web::Multipart, max_bytes: usize) -> Self {
        let mut upload = Upload {
            fields: Default::default(),
            file: None,
            too_big: false,
        };
        loop {
            let field = match multipart.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) => break,
                Err(_) => {
                    upload.too_big = true;
                    break;
                }
            };
            match field.name().map(str::to_owned) {
                Some(name) if name == "fichier" => match field.bytes().await {
                    Ok(bytes) if bytes.len() <= max_bytes => upload.file = Some(bytes),
                    _ => upload.too_big = true,
                },
                Some(name) => {
                    let text = field.text().await.unwrap_or_default();
                    upload.fields.insert(name, text);
                }
                None => {}
            }
        }
        upload
    }

    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

/// A choice of a select list or of radio buttons: what the form sends, what the person reads.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(super) struct Choice {
    pub value: String,
    pub label: String,
}

pub(super) fn option(value: impl ToString, label: impl ToString) -> Choice {
    Choice {
        value: value.to_string(),
        label: label.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_the_way_people_type_them() {
        assert_eq!(euros_to_cents(""), Some(0));
        assert_eq!(euros_to_cents("5"), Some(500));
        assert_eq!(euros_to_cents("5,5"), Some(550));
        assert_eq!(euros_to_cents(" 12,05 € "), Some(1205));
        assert_eq!(euros_to_cents("0.5"), Some(50));
        assert_eq!(euros_to_cents("5,555"), None);
        assert_eq!(euros_to_cents("cinq"), None);
        assert_eq!(euros_to_cents("-5"), None);
    }
}
