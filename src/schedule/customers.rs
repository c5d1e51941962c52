//! Customers: the list found while typing, one customer's details and
//! history of appointments.

use crate::web::Routes;

pub fn routes() -> Routes {
    Routes::new()
}
