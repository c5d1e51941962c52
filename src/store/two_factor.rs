//! Two-factor sign-in: each person's TOTP secret (pending while they scan
//! it, then enabled), the newest time step a code was accepted for (so a
//! code works once), and their one-time recovery codes, kept as digests.

use rusqlite::{OptionalExtension, params};

use super::users::UserId;
use super::{Store, StoreResult};

/// A person's two-factor settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TwoFactor {
    /// The shared secret, base32 (what the authenticator app holds).
    pub secret: String,
    /// When it was turned on; `None` while enrolment is under way.
    pub enabled_at: Option<i64>,
    /// The newest 30-second step a code was accepted for.
    pub last_step: i64,
    /// Recovery codes not used yet.
    pub recovery_left: i64,
}

impl Store {
    /// The person's two-factor settings, if they have begun enrolment.
    pub async fn two_factor(&self, user: UserId) -> StoreResult<Option<TwoFactor>> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT secret, enabled_at, last_step,
                        (SELECT COUNT(*) FROM recovery_codes r
                          WHERE r.user_id = t.user_id AND r.used_at IS NULL)
                   FROM two_factor t WHERE user_id = ?1",
                [user.0],
                |r| {
                    Ok(TwoFactor {
                        secret: r.get(0)?,
                        enabled_at: r.get(1)?,
                        last_step: r.get(2)?,
                        recovery_left: r.get(3)?,
                    })
                },
            )
            .optional()?)
        })
        .await
    }

    /// Whether the person has two-factor sign-in turned on.
    pub async fn two_factor_enabled(&self, user: UserId) -> StoreResult<bool> {
        Ok(self
            .two_factor(user)
            .await?
            .is_some_and(|t| t.enabled_at.is_some()))
    }

    /// Starts enrolment with `secret` (replacing an unfinished one); does
    /// nothing when two-factor sign-in is already on.
    pub async fn begin_two_factor(&self, user: UserId, secret: String) -> StoreResult<()> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO two_factor (user_id, secret, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret,
                     created_at = excluded.created_at, last_step = 0
                 WHERE two_factor.enabled_at IS NULL",
                params![user.0, secret, clock.now()],
            )?;
            Ok(())
        })
        .await
    }

    /// Turns two-factor sign-in on after a code for `step` was accepted,
    /// with new recovery codes (their digests). False when there was no
    /// enrolment under way.
    pub async fn enable_two_factor(
        &self,
        user: UserId,
        step: i64,
        recovery_hashes: Vec<String>,
    ) -> StoreResult<bool> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE two_factor SET enabled_at = ?2, last_step = ?3
                  WHERE user_id = ?1 AND enabled_at IS NULL AND last_step < ?3",
                params![user.0, clock.now(), step],
            )?;
            if changed == 1 {
                replace_codes(tx, user, &recovery_hashes)?;
            }
            Ok(changed == 1)
        })
        .await
    }

    /// Accepts a code for `step` once: false when a code for this step (or
    /// a later one) was already used.
    pub async fn use_two_factor_step(&self, user: UserId, step: i64) -> StoreResult<bool> {
        self.write_essential(move |tx| {
            Ok(tx.execute(
                "UPDATE two_factor SET last_step = ?2
                  WHERE user_id = ?1 AND enabled_at IS NOT NULL AND last_step < ?2",
                params![user.0, step],
            )? == 1)
        })
        .await
    }

    /// Uses the recovery code with digest `hash`: false when it is not one
    /// of the person's unused codes.
    pub async fn use_recovery_code(&self, user: UserId, hash: String) -> StoreResult<bool> {
        let clock = self.clock().clone();
        self.write_essential(move |tx| {
            Ok(tx.execute(
                "UPDATE recovery_codes SET used_at = ?3
                  WHERE id = (SELECT id FROM recovery_codes
                               WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL
                               LIMIT 1)",
                params![user.0, hash, clock.now()],
            )? == 1)
        })
        .await
    }

    /// Replaces the person's recovery codes (the old ones stop working).
    pub async fn replace_recovery_codes(
        &self,
        user: UserId,
        recovery_hashes: Vec<String>,
    ) -> StoreResult<()> {
        self.write(move |tx| replace_codes(tx, user, &recovery_hashes))
            .await
    }

    /// Turns two-factor sign-in off (or abandons enrolment); whether it was on.
    pub async fn disable_two_factor(&self, user: UserId) -> StoreResult<bool> {
        self.write(move |tx| {
            let was_on: bool = tx
                .query_row(
                    "SELECT enabled_at IS NOT NULL FROM two_factor WHERE user_id = ?1",
                    [user.0],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(false);
            tx.execute("DELETE FROM two_factor WHERE user_id = ?1", [user.0])?;
            tx.execute("DELETE FROM recovery_codes WHERE user_id = ?1", [user.0])?;
            Ok(was_on)
        })
        .await
    }
}

fn replace_codes(
    tx: &rusqlite::Transaction<'_>,
    user: UserId,
    hashes: &[String],
) -> StoreResult<()> {
    tx.execute("DELETE FROM recovery_codes WHERE user_id = ?1", [user.0])?;
    let mut insert =
        tx.prepare("INSERT INTO recovery_codes (user_id, code_hash) VALUES (?1, ?2)")?;
    for hash in hashes {
        insert.execute(params![user.0, hash])?;
    }
    Ok(())
}
