//! Admin → Schedule: the business's time zone and opening hours, closures,
//! staff with their working hours and time off, services, resources.

use crate::web::Routes;

pub fn routes() -> Routes {
    Routes::new()
}
