//! Password hashing (Argon2id) and the rules for usernames and passwords.

use std::sync::OnceLock;

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};

use crate::error::{Error, Result};

/// Hashes a password with Argon2id (the crate's default parameters) off the
/// async threads: hashing deliberately takes tens of milliseconds.
pub async fn hash(password: &str) -> Result<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::BadRequest(format!("could not hash the password: {e}")))
    })
    .await
    .map_err(|e| Error::Io(std::io::Error::other(e)))?
}

/// Checks a password against a stored hash. With no hash (unknown user or
/// guest) a dummy hash is checked anyway, so timing does not reveal which.
pub async fn verify(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"not a real password", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    });
    let real = stored.is_some();
    let stored = stored.unwrap_or(dummy).to_owned();
    let password = password.to_owned();
    let matched = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false);
    real && matched
}

/// Usernames: 3–32 characters of letters, digits, `.`, `_`, `-`, starting
/// with a letter or digit; `guest-…` is reserved for guest identities.
pub fn validate_username(username: &str) -> Result<()> {
    let ok_chars = username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    let first_ok = username
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if !(3..=32).contains(&username.len()) || !ok_chars || !first_ok {
        return Err(Error::BadRequest(
            "Choose a username of 3 to 32 characters: letters, digits, '.', '_' or '-', starting with a letter or digit."
                .into(),
        ));
    }
    if username.to_ascii_lowercase().starts_with("guest-") {
        return Err(Error::BadRequest(
            "Usernames starting with \"guest-\" are reserved.".into(),
        ));
    }
    Ok(())
}

/// Passwords: at least `min_len` characters, at most 256 (hashing cost).
pub fn validate_password(password: &str, min_len: usize) -> Result<()> {
    let len = password.chars().count();
    if len < min_len {
        return Err(Error::BadRequest(format!(
            "That password is too short: use at least {min_len} characters (a few unrelated words work well)."
        )));
    }
    if len > 256 {
        return Err(Error::BadRequest(
            "That password is too long: use at most 256 characters.".into(),
        ));
    }
    Ok(())
}

/// Email is optional; when given it must look like one.
pub fn validate_email(email: &str) -> Result<()> {
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(char::is_whitespace);
    if valid {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "{email:?} does not look like an email address."
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_own_password() {
        let h = hash("correct horse battery staple").await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery staple", Some(&h)).await);
        assert!(!verify("Correct horse battery staple", Some(&h)).await);
        assert!(!verify("anything", None).await);
        assert!(!verify("anything", Some("not a hash")).await);
    }

    #[test]
    fn usernames_and_passwords_follow_the_rules() {
        assert!(validate_username("ada.l_2").is_ok());
        for bad in [
            "ab",
            "-ada",
            "ada lovelace",
            "guest-123",
            "Guest-x",
            &"a".repeat(33),
            "adä",
        ] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
        assert!(validate_password("short", 10)
            .unwrap_err()
            .to_string()
            .contains("too short"));
        assert!(validate_password("long enough pass", 10).is_ok());
        assert!(validate_email("a@b.org").is_ok());
        assert!(validate_email("a@b").is_err());
        assert!(validate_email("a b@c.org").is_err());
    }
}
