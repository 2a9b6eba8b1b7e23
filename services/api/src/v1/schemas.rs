//! Types shared by several resources of the API.

use std::borrow::Cow;

use passerelle_core::pagination::{DEFAULT_LIMIT, MAX_LIMIT, PageRequest};
use passerelle_core::tenancy::Role;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use poem_openapi::{Enum, Object};

/// One page of a list. Ask for the next one with `cursor` set to `next_cursor`, absent on the
/// last page.
#[derive(Debug, Object)]
pub struct Page<T: ParseFromJSON + ToJSON> {
    pub items: Vec<T>,
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// The page size of every list, `limit`: its bounds are in the document and checked when the
/// parameter is read, like any parameter's.
#[derive(Debug, Clone, Copy)]
pub struct PageLimit(u32);

/// Where a list continues, `cursor`: the `next_cursor` of the previous page.
#[derive(Debug, Clone)]
pub struct PageCursor(String);

/// A cursor is the base64 of an id: never longer than this.
const MAX_CURSOR_LENGTH: usize = 64;

/// The page a list operation was asked for, from its two parameters.
/// A field of a partial update (`PATCH`): left out (`None`, kept), `null` (`Some(None)`,
/// cleared) or a value.
pub fn patched<T>(field: poem_openapi::types::MaybeUndefined<T>) -> Option<Option<T>> {
    use poem_openapi::types::MaybeUndefined;
    match field {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(value) => Some(Some(value)),
    }
}

pub fn page_request(
    limit: Option<PageLimit>,
    cursor: Option<PageCursor>,
) -> Result<PageRequest, passerelle_core::Error> {
    PageRequest::parse(limit.map(|l| l.0), cursor.as_ref().map(|c| c.0.as_str()))
}

impl Type for PageLimit {
    const IS_REQUIRED: bool = true;
    type RawValueType = u32;
    type RawElementValueType = u32;

    fn name() -> Cow<'static, str> {
        "integer_page_limit".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            minimum: Some(1.0),
            maximum: Some(f64::from(MAX_LIMIT)),
            default: Some(DEFAULT_LIMIT.into()),
            ..MetaSchema::new_with_format("integer", "uint32")
        }))
    }

    fn as_raw_value(&self) -> Option<&u32> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a u32> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromParameter for PageLimit {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        let limit: u32 = value.parse().map_err(ParseError::custom)?;
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ParseError::custom(format!(
                "a page holds 1 to {MAX_LIMIT} items"
            )));
        }
        Ok(Self(limit))
    }
}

impl Type for PageCursor {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        "string_page_cursor".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            max_length: Some(MAX_CURSOR_LENGTH),
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromParameter for PageCursor {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        if value.len() > MAX_CURSOR_LENGTH {
            return Err(ParseError::custom(
                "not a cursor this service gave: give the `next_cursor` of the previous page",
            ));
        }
        Ok(Self(value.to_owned()))
    }
}

/// What a user may do: one role per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RoleDto {
    PlatformAdmin,
    TenantAdmin,
    Prescriber,
    Epn,
    Finance,
    Funder,
}

impl From<Role> for RoleDto {
    fn from(role: Role) -> Self {
        match role {
            Role::PlatformAdmin => RoleDto::PlatformAdmin,
            Role::TenantAdmin => RoleDto::TenantAdmin,
            Role::Prescriber => RoleDto::Prescriber,
            Role::Epn => RoleDto::Epn,
            Role::Finance => RoleDto::Finance,
            Role::Funder => RoleDto::Funder,
        }
    }
}

impl From<RoleDto> for Role {
    fn from(role: RoleDto) -> Self {
        match role {
            RoleDto::PlatformAdmin => Role::PlatformAdmin,
            RoleDto::TenantAdmin => Role::TenantAdmin,
            RoleDto::Prescriber => Role::Prescriber,
            RoleDto::Epn => Role::Epn,
            RoleDto::Finance => Role::Finance,
            RoleDto::Funder => Role::Funder,
        }
    }
}

/// A JSON string, and only a string. poem-openapi's `String` also takes a number or a boolean
/// (`false` becomes "false"), so a client that sends the wrong type would get a funder named
/// "false" instead of a 400 that names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl Type for Text {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for Text {
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        match value {
            Some(serde_json::Value::String(text)) => Ok(Self(text)),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::String(self.0.clone()))
    }
}
