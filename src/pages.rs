//! The home page and the daily-use sections whose capabilities have not
//! landed yet (Schedule): each shows what it will do, clearly marked as
//! coming soon.

use askama::Template;
use axum::response::{Redirect, Response};

use crate::error::AppResult;
use crate::web::layout::{Shell, render};
use crate::web::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .get("/", Access::Staff, || async { Redirect::to("/chat") })
        .get("/schedule", Access::Staff, schedule)
}

#[derive(Template)]
#[template(path = "pages/coming_soon.html")]
pub struct ComingSoonPage {
    shell: Shell,
    title: &'static str,
    summary: &'static str,
    points: &'static [&'static str],
}

async fn schedule(shell: Shell) -> AppResult<Response> {
    render(&ComingSoonPage {
        shell,
        title: "Schedule",
        summary: "Bookings and appointments, with the assistant proposing and a person confirming.",
        points: &["The assistant suggests; you decide."],
    })
}
