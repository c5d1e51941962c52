//! Password policy and hashing. Hashes are argon2id with OWASP's minimum
//! parameters (19 MiB, 2 passes, 1 lane); hashing runs on the blocking pool
//! because each call takes tens of milliseconds of CPU on purpose, and at
//! most half the cores hash at once.

use std::collections::HashSet;
use std::sync::LazyLock;

use anyhow::Context;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

/// The 10,000 most common passwords (from Django's list, itself from Royce
/// Williams' 2017 analysis of leaked passwords), lower-case.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("common-passwords.txt").lines().collect());

/// Longest password accepted: argon2 takes any length, but a multi-megabyte
/// "password" is a denial-of-service attempt, not a password.
pub const MAX_PASSWORD_LENGTH: usize = 1024;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a new password is refused, in words for the person choosing it; `None`
/// when it is acceptable.
pub fn policy_problem(password: &str, username: &str, min_length: usize) -> Option<String> {
    let length = password.chars().count();
    if length < min_length {
        return Some(format!(
            "The password must be at least {min_length} characters long (it has {length}). A few unrelated words make a strong one that is easy to remember."
        ));
    }
    if password.len() > MAX_PASSWORD_LENGTH {
        return Some(format!(
            "The password must be at most {MAX_PASSWORD_LENGTH} bytes long."
        ));
    }
    let lower = password.to_lowercase();
    if COMMON_PASSWORDS.contains(lower.as_str()) {
        return Some(
            "That password is one of the 10,000 most common ones, which attackers try first. Choose another.".to_string(),
        );
    }
    if !username.is_empty() && lower.contains(&username.to_lowercase()) {
        return Some("The password must not contain the username.".to_string());
    }
    if password.chars().collect::<HashSet<_>>().len() < 4 {
        return Some("The password repeats too few different characters.".to_string());
    }
    None
}

/// Hashes on the current thread. Use [`hash`] from async code.
pub fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let hash = argon2()
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))?;
    Ok(hash.to_string())
}

/// Password hashes computed at once: half the cores, at least one. Each
/// takes 19 MiB and tens of milliseconds of CPU by design; unbounded, a
/// burst of sign-ins took every core from the chat model and hundreds of
/// MiB of memory. More wait their turn, which is fair to everyone.
static HASHING: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    tokio::sync::Semaphore::new((cores / 2).max(1))
});

async fn hashing_turn() -> anyhow::Result<tokio::sync::SemaphorePermit<'static>> {
    HASHING
        .acquire()
        .await
        .context("password hashing is shut down")
}

pub async fn hash(password: String) -> anyhow::Result<String> {
    let _turn = hashing_turn().await?;
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .context("password hashing task failed")?
}

/// Whether `password` matches `hash`. A malformed stored hash is an error,
/// not a mismatch, so it gets logged.
pub async fn verify(password: String, hash: String) -> anyhow::Result<bool> {
    let _turn = hashing_turn().await?;
    tokio::task::spawn_blocking(move || {
        match argon2().verify_password(password.as_bytes(), hash.as_str()) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
            Err(e) => Err(anyhow::anyhow!("stored password hash is unusable: {e}")),
        }
    })
    .await
    .context("password verification task failed")?
}

/// A hash of a random password, verified against when a login names a user
/// who does not exist, so that such logins take as long as real ones and do
/// not reveal which usernames exist.
pub static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_blocking(&crate::auth::token::random_token(16)).expect("hashing a random password works")
});

#[cfg(test)]
mod tests {
    use super::*;

    fn check(password: &str, expected_problem: Option<&str>) {
        let problem = policy_problem(password, "alice", 12);
        match (problem, expected_problem) {
            (None, None) => {}
            (Some(p), Some(fragment)) => assert!(p.contains(fragment), "{password:?}: {p}"),
            (got, want) => panic!("{password:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn policy() {
        check("short", Some("at least 12"));
        check("password1234", Some("most common"));
        check("Password1234", Some("most common"));
        check("alice-is-the-best", Some("username"));
        check("aaaaaaaaaaaaaaaa", Some("too few different"));
        check("correct horse battery staple", None);
        check(&"x".repeat(2000), Some("at most"));
    }

    #[test]
    fn common_list_is_the_top_ten_thousand() {
        assert_eq!(COMMON_PASSWORDS.len(), 10_000);
        assert!(COMMON_PASSWORDS.contains("123456"));
    }

    #[test]
    fn hash_and_verify() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let h = hash("correct horse battery staple".into()).await.unwrap();
            assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
            assert!(
                verify("correct horse battery staple".into(), h.clone())
                    .await
                    .unwrap()
            );
            assert!(
                !verify("wrong horse battery staple".into(), h.clone())
                    .await
                    .unwrap()
            );
            assert!(verify("x".into(), "not a hash".into()).await.is_err());
        });
    }
}
