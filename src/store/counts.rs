//! Counts of what the box holds, for `/metrics`: one read, cheap queries.

use super::{Store, StoreResult};

/// How many of each there are.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub users: i64,
    pub conversations: i64,
    /// By status (`indexed`, `queued`, ...), every status listed.
    pub documents: Vec<(String, i64)>,
    pub audit_entries: i64,
    /// Requests, not their end entries.
    pub egress_requests: i64,
}

impl Store {
    pub async fn counts(&self) -> StoreResult<Counts> {
        self.read(|c| {
            let count = |sql: &str| -> rusqlite::Result<i64> { c.query_row(sql, [], |r| r.get(0)) };
            let mut documents: Vec<(String, i64)> = super::DocumentStatus::ALL
                .iter()
                .map(|s| (s.as_str().to_string(), 0))
                .collect();
            let mut stmt =
                c.prepare_cached("SELECT status, count(*) FROM documents GROUP BY status")?;
            for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
                let (status, n) = row?;
                match documents.iter_mut().find(|(s, _)| *s == status) {
                    Some(entry) => entry.1 = n,
                    None => documents.push((status, n)),
                }
            }
            Ok(Counts {
                users: count("SELECT count(*) FROM users")?,
                conversations: count("SELECT count(*) FROM conversations")?,
                documents,
                audit_entries: count("SELECT count(*) FROM audit_log")?,
                egress_requests: count("SELECT count(*) FROM egress_log WHERE request_id IS NULL")?,
            })
        })
        .await
    }
}
