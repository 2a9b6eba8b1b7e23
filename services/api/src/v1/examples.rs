//! The values the document's examples share, so that they tell one story: Paul Lacombe's Ticket
//! Net voucher, issued by the CAF du Lot, registered and attended at the EPN of Figeac.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

pub const SCHEME_ID: Uuid = Uuid::from_u128(0x0193_6f2a_1c00_7000_8000_0000_0000_0001);
pub const PRESCRIBER_ID: Uuid = Uuid::from_u128(0x0193_6f2a_1c00_7000_8000_0000_0000_0002);
pub const BENEFICIARY_ID: Uuid = Uuid::from_u128(0x0193_6f2a_1c00_7000_8000_0000_0000_0003);
pub const VOUCHER_ID: Uuid = Uuid::from_u128(0x0193_6f2a_1c00_7000_8000_0000_0000_0004);
pub const EPN_ID: Uuid = Uuid::from_u128(0x0193_6f2a_1c00_7000_8000_0000_0000_0006);
pub const REGISTRATION_ID: Uuid = Uuid::from_u128(0x0193_6f2a_1c00_7000_8000_0000_0000_0007);
pub const ATTENDANCE_ID: Uuid = Uuid::from_u128(0x0193_6f2a_1c00_7000_8000_0000_0000_0005);
/// A reference whose check character is right: `parse` accepts it.
pub const REFERENCE: &str = "LOT-7K3F-9QX2-K";
/// Another voucher of the same sheet.
pub const OTHER_REFERENCE: &str = "LOT-Q8XH-3M2T-K";

pub fn issued_on() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 24).unwrap_or_default()
}

pub fn valid_until() -> NaiveDate {
    NaiveDate::from_ymd_opt(2027, 11, 23).unwrap_or_default()
}

pub fn issued_at() -> DateTime<Utc> {
    issued_on()
        .and_hms_opt(9, 30, 0)
        .unwrap_or_default()
        .and_utc()
}
