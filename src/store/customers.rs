//! The office's customers (patients, clients): name, phone, e-mail, notes,
//! found while typing by any part of the name, the phone or the e-mail.

use rusqlite::params;
use serde::Serialize;

use super::schedule::id_type;
use super::{Store, StoreError, StoreResult, contains_pattern};

id_type!(CustomerId);

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Customer {
    pub id: CustomerId,
    pub name: String,
    pub phone: String,
    pub email: String,
    pub notes: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Default)]
pub struct CustomerChange {
    pub name: String,
    pub phone: String,
    pub email: String,
    pub notes: String,
}

const COLUMNS: &str = "id, name, phone, email, notes, created_at, updated_at";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Customer> {
    Ok(Customer {
        id: CustomerId(r.get(0)?),
        name: r.get(1)?,
        phone: r.get(2)?,
        email: r.get(3)?,
        notes: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

impl Store {
    pub async fn create_customer(&self, change: CustomerChange) -> StoreResult<Customer> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO customers (name, phone, email, notes, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![
                    change.name,
                    change.phone,
                    change.email,
                    change.notes,
                    clock.now()
                ],
            )?;
            Ok(tx.query_row(
                &format!("SELECT {COLUMNS} FROM customers WHERE id = ?1"),
                [tx.last_insert_rowid()],
                from_row,
            )?)
        })
        .await
    }

    pub async fn update_customer(
        &self,
        id: CustomerId,
        change: CustomerChange,
    ) -> StoreResult<Customer> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE customers SET name = ?2, phone = ?3, email = ?4, notes = ?5,
                     updated_at = ?6 WHERE id = ?1",
                params![
                    id.0,
                    change.name,
                    change.phone,
                    change.email,
                    change.notes,
                    clock.now()
                ],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(tx.query_row(
                &format!("SELECT {COLUMNS} FROM customers WHERE id = ?1"),
                [id.0],
                from_row,
            )?)
        })
        .await
    }

    pub async fn customer(&self, id: CustomerId) -> StoreResult<Customer> {
        self.read(move |c| {
            Ok(c.query_row(
                &format!("SELECT {COLUMNS} FROM customers WHERE id = ?1"),
                [id.0],
                from_row,
            )?)
        })
        .await
    }

    /// Customers whose name, phone or e-mail contains `text` (any case),
    /// names that start with it first; every customer when `text` is empty.
    pub async fn find_customers(&self, text: String, limit: u32) -> StoreResult<Vec<Customer>> {
        self.read(move |c| {
            let pattern = contains_pattern(text.trim());
            let prefix = format!("{}%", super::like_escaped(text.trim()));
            let digits: String = text.chars().filter(char::is_ascii_digit).collect();
            let phone = if digits.len() >= 3 {
                format!("%{digits}%")
            } else {
                pattern.clone()
            };
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM customers
                 WHERE name LIKE ?1 ESCAPE '\\' OR email LIKE ?1 ESCAPE '\\'
                    OR replace(replace(replace(replace(phone, ' ', ''), '-', ''), '(', ''), ')', '')
                       LIKE ?3 ESCAPE '\\'
                 ORDER BY (name LIKE ?2 ESCAPE '\\') DESC, name COLLATE NOCASE, id
                 LIMIT ?4"
            ))?;
            Ok(stmt
                .query_map(params![pattern, prefix, phone, limit], from_row)?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Every customer, by name (the assistant's list of who can be meant).
    pub async fn customers(&self) -> StoreResult<Vec<Customer>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM customers ORDER BY name COLLATE NOCASE, id"
            ))?;
            Ok(stmt.query_map([], from_row)?.collect::<Result<_, _>>()?)
        })
        .await
    }
}
