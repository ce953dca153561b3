//! Passwords: Argon2id hashes with a random salt, in `api.passwords` (never in the
//! log or a read model), one per manager with an email; set by an admin or director,
//! by the manager himself, or by `crm password set`.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use crm_eventlog::EventLog;
use sqlx::PgPool;
use uuid::Uuid;

use super::{manager_of, LoginError};

/// The fewest characters a password may have.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// The most characters a password may have (hashing is slow enough as it is).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Why a password is not set.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    #[error("a password has at least {MIN_PASSWORD_CHARS} characters; this one has {0}")]
    TooShort(usize),
    /// More than [`MAX_PASSWORD_CHARS`] characters.
    #[error("a password has at most {MAX_PASSWORD_CHARS} characters; this one has {0}")]
    TooLong(usize),
    /// A NUL character, which the CRM stores nowhere.
    #[error("a password must not contain the character U+0000 (NUL)")]
    Nul,
    /// The log registers no such manager.
    #[error("manager {0} is not registered")]
    UnknownManager(Uuid),
    /// The manager was deactivated: he logs in no more.
    #[error("manager {0} is deactivated: he logs in no more")]
    Inactive(Uuid),
    /// The manager has no email to log in with.
    #[error("manager {0} has no email to log in with")]
    NoEmail(Uuid),
    /// Another active manager logs in with the same email.
    #[error("another manager ({0}) logs in with this email")]
    EmailInUse(Uuid),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] LoginError),
}

/// Argon2id with the crate's default parameters (19 MiB, 2 passes, 1 lane: OWASP's
/// recommendation); a stored hash names its own, so they may change later.
fn argon2() -> Argon2<'static> {
    Argon2::default()
}

/// The PHC string of `password` hashed with a fresh random salt. Slow: call it off
/// the async threads (`super::Logins::hashing`).
pub fn hash(password: &str) -> Result<String, LoginError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| LoginError::Internal(format!("hashing a password: {e}")))
}

/// True when `password` is the one `stored` (a PHC string) was made from. Slow like
/// [`hash`]. A malformed stored hash verifies nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(err) => {
            tracing::error!(error = %err, "a stored password hash is malformed");
            false
        }
    }
}

/// A hash of a random password, verified against when the email is unknown, so that
/// an unknown email takes as long as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut bytes = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        hash(&hex::encode(bytes)).unwrap_or_default()
    })
}

/// Checks a new password's shape: length in characters and no NUL.
pub fn check_shape(password: &str) -> Result<(), PasswordError> {
    let chars = password.chars().count();
    if password.contains('\0') {
        return Err(PasswordError::Nul);
    }
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort(chars));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordError::TooLong(chars));
    }
    Ok(())
}

/// The stored hash of `manager_id`'s password, if he has one.
pub async fn stored_hash(pool: &PgPool, manager_id: Uuid) -> Result<Option<String>, LoginError> {
    Ok(
        sqlx::query_scalar("SELECT password_hash FROM api.passwords WHERE manager_id = $1")
            .bind(manager_id)
            .fetch_optional(pool)
            .await?,
    )
}

/// Sets `manager_id`'s password (already hashed: `password_hash`), recorded as set by
/// `set_by`; the manager must be registered, active and have an email (the one he
/// then logs in with). Ends his sessions, except `keep` (the session of the manager
/// changing his own).
pub async fn store(
    log: &EventLog,
    manager_id: Uuid,
    password_hash: &str,
    set_by: &str,
    keep: Option<&[u8]>,
) -> Result<(), PasswordError> {
    let email = email_to_log_in_with(log, manager_id).await?;
    let pool = log.pool();
    // The email is his alone: an inactive manager holding it (he logs in no more)
    // gives it up; an active one keeps it.
    let holder: Option<Uuid> = sqlx::query_scalar(
        "SELECT manager_id FROM api.passwords WHERE lower(email) = lower($1) AND manager_id <> $2",
    )
    .bind(&email)
    .bind(manager_id)
    .fetch_optional(pool)
    .await
    .map_err(LoginError::from)?;
    if let Some(other) = holder {
        match manager_of(log, other).await? {
            Some(m) if m.active => return Err(PasswordError::EmailInUse(other)),
            _ => {
                sqlx::query("DELETE FROM api.passwords WHERE manager_id = $1")
                    .bind(other)
                    .execute(pool)
                    .await
                    .map_err(LoginError::from)?;
            }
        }
    }
    let mut tx = pool.begin().await.map_err(LoginError::from)?;
    sqlx::query(
        "INSERT INTO api.passwords (manager_id, email, password_hash, set_by) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (manager_id) DO UPDATE SET email = $2, password_hash = $3, set_by = $4, set_at = now()",
    )
    .bind(manager_id)
    .bind(&email)
    .bind(password_hash)
    .bind(set_by)
    .execute(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            PasswordError::EmailInUse(Uuid::nil())
        }
        _ => LoginError::from(e).into(),
    })?;
    sqlx::query(
        "DELETE FROM api.sessions WHERE manager_id = $1 AND ($2::bytea IS NULL OR session_hash <> $2)",
    )
    .bind(manager_id)
    .bind(keep)
    .execute(&mut *tx)
    .await
    .map_err(LoginError::from)?;
    tx.commit().await.map_err(LoginError::from)?;
    Ok(())
}

/// The email `manager_id` logs in with, from the log: he must be registered, active
/// and have one.
pub async fn email_to_log_in_with(
    log: &EventLog,
    manager_id: Uuid,
) -> Result<String, PasswordError> {
    let manager = manager_of(log, manager_id)
        .await?
        .ok_or(PasswordError::UnknownManager(manager_id))?;
    if !manager.active {
        return Err(PasswordError::Inactive(manager_id));
    }
    manager
        .email
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty())
        .ok_or(PasswordError::NoEmail(manager_id))
}

/// `crm password set --manager <id>`: the password is the first line of `input`
/// (standard input; the line's end is not part of it), checked, hashed and stored as
/// set by `set_by`; every session of the manager ends.
pub async fn set_from_reader(
    log: &EventLog,
    manager_id: Uuid,
    mut input: impl std::io::BufRead,
    set_by: &str,
) -> Result<(), PasswordError> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|e| LoginError::Input(e.to_string()))?;
    let password = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line);
    check_shape(password)?;
    // Refused before the slow hash when the manager cannot have one.
    email_to_log_in_with(log, manager_id).await?;
    let password = password.to_owned();
    let hashed = tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|e| LoginError::Internal(format!("hashing task: {e}")))??;
    store(log, manager_id, &hashed, set_by, None).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only_and_is_argon2id_with_a_salt_of_its_own() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse batterY", &a));
        assert!(!verify("correct horse battery", "not a hash"));
        assert!(!verify("anything", dummy_hash()));
    }

    #[test]
    fn a_password_has_10_to_1024_characters_and_no_nul() {
        assert!(matches!(
            check_shape("123456789"),
            Err(PasswordError::TooShort(9))
        ));
        // Characters, not bytes.
        assert!(check_shape("ґґґґґґґґґґ").is_ok());
        assert!(matches!(
            check_shape(&"x".repeat(1025)),
            Err(PasswordError::TooLong(1025))
        ));
        assert!(matches!(
            check_shape("0123456789\0"),
            Err(PasswordError::Nul)
        ));
    }
}
