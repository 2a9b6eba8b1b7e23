//! The holder's own pages, in French: the balance check, the e-portfolio and the email
//! unsubscribe page. They keep the addresses under `/v1/public/` that emails and letters carry,
//! and stay in the OpenAPI document (tag Public) beside the JSON operations they mirror; they
//! answer HTML drawn with the State's design system, like the portal's pages.

pub mod balance;
pub mod portfolio;
pub mod unsubscribe;
