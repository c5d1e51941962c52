//! Paging through a list: the one place a page number from a query string
//! becomes an offset, clamped so that no number a client sends can overflow
//! (`?page=4294967295` used to panic a debug build) or make the database
//! skip millions of rows.

/// The highest page any list shows.
pub const MAX_PAGE: u64 = 10_000;

/// A page of a list: which one (from 1) and how long pages are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    page: u64,
    per_page: u64,
}

impl Paging {
    /// Page `page` (missing or 0: the first; at most [`MAX_PAGE`]) of
    /// `per_page` items (at least one).
    pub fn new(page: Option<u64>, per_page: u64) -> Paging {
        Paging {
            page: page.unwrap_or(1).clamp(1, MAX_PAGE),
            per_page: per_page.max(1),
        }
    }

    /// The page number, from 1.
    pub fn page(self) -> u64 {
        self.page
    }

    pub fn per_page(self) -> u64 {
        self.per_page
    }

    /// Items to skip before this page.
    pub fn offset(self) -> u64 {
        (self.page - 1) * self.per_page
    }

    /// How many pages `total` items fill (at least one, at most [`MAX_PAGE`]).
    pub fn pages(self, total: u64) -> u64 {
        total.div_ceil(self.per_page).clamp(1, MAX_PAGE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(page: Option<u64>, per_page: u64, expected_page: u64, expected_offset: u64) {
        let paging = Paging::new(page, per_page);
        assert_eq!(
            (paging.page(), paging.offset()),
            (expected_page, expected_offset),
            "{page:?} × {per_page}"
        );
    }

    #[test]
    fn page_numbers_are_clamped() {
        check(None, 50, 1, 0);
        check(Some(0), 50, 1, 0);
        check(Some(3), 50, 3, 100);
        check(Some(u64::from(u32::MAX)), 50, MAX_PAGE, (MAX_PAGE - 1) * 50);
        check(Some(u64::MAX), 10, MAX_PAGE, (MAX_PAGE - 1) * 10);
        assert_eq!(Paging::new(None, 50).pages(0), 1);
        assert_eq!(Paging::new(None, 50).pages(101), 3);
    }
}
