//! The Schedule page: day and week views for one person, one resource or
//! the whole office, booking, moving and cancelling.

use crate::web::Routes;

pub fn routes() -> Routes {
    Routes::new()
}
