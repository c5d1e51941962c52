//! The home page: staff land in the chat, the thing they open Hearth for
//! most.

use axum::response::Redirect;

use crate::web::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new().get("/", Access::Staff, || async { Redirect::to("/chat") })
}
