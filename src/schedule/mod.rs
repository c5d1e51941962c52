//! Scheduling: the calendar staff book in, the office's setup (time zone,
//! opening hours, closures, staff and their hours and time off, services,
//! resources), customers, finding free slots, calendar files and
//! subscriptions, and the assistant that turns plain requests into
//! proposals a person confirms.
//!
//! Invariants:
//! - Whether a time is free is decided only by the calendar engine
//!   (`calendar::Office`), and again inside the write transaction, so of
//!   many people booking one slot at once exactly one wins.
//! - Nothing is booked, moved or cancelled by the assistant: it proposes,
//!   and a person confirms with one click (audited with who confirmed).
//! - Every change is audited with what it was before and after.

mod api;
pub mod assistant;
mod assistant_pages;
pub mod book;
mod customers;
mod customers_api;
mod interop;
mod pages;
pub mod setup;
mod setup_api;
mod setup_pages;
pub mod understand;

use crate::web::Routes;

pub use book::{Booking, Outcome};

pub fn routes() -> Routes {
    Routes::new()
        .merge(pages::routes())
        .merge(assistant_pages::routes())
        .merge(setup_pages::routes())
        .merge(customers::routes())
        .merge(interop::routes())
        .merge(api::routes())
        .merge(setup_api::routes())
        .merge(customers_api::routes())
}

pub fn api_doc() -> utoipa::openapi::OpenApi {
    let mut doc = api::api_doc();
    doc.merge(setup_api::api_doc());
    doc.merge(customers_api::api_doc());
    doc.merge(assistant_pages::api_doc());
    doc
}
