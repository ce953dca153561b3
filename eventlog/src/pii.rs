//! The cipher of personal values: each personal string of a stored payload is
//! replaced by `pii:v1:<subject>:<base64url(nonce ‖ ciphertext)>`, encrypted with
//! AES-256-GCM-SIV under its data subject's key, the subject and the field name
//! bound as associated data. Destroying the subject's key makes every such value
//! unreadable while the stored bytes (and the hash chains over them) stay as they are.
//!
//! The nonce is derived from the event id and the value's place in the event, so
//! that encrypting the same event again under the same key gives the same bytes
//! (an append retried by event id is recognised as a replay); GCM-SIV is resistant
//! to nonce reuse, so two different values under one nonce reveal at most that
//! they are equal.

use aes_gcm_siv::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What a personal value reads as once its subject's key is destroyed (or when it
/// cannot be decrypted at all).
pub const ERASED: &str = "[erased]";

/// The prefix of every encrypted personal value.
pub const PREFIX: &str = "pii:v1:";

/// Why a personal value could not be decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PiiError {
    /// The string is not an encrypted value of this format.
    #[error("not an encrypted personal value")]
    Malformed,
    /// The key, subject or field does not match, or the ciphertext was altered.
    #[error("the personal value does not decrypt under this key, subject and field")]
    Undecryptable,
}

/// A data subject's 256-bit key.
#[derive(Clone, PartialEq, Eq)]
pub struct SubjectKey([u8; 32]);

impl std::fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubjectKey(..)")
    }
}

impl SubjectKey {
    /// A new random key (from the operating system's generator).
    pub fn generate() -> Self {
        let key = Aes256GcmSiv::generate_key(&mut OsRng);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&key);
        SubjectKey(bytes)
    }

    /// The key from its 32 stored bytes; None for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(SubjectKey)
    }

    /// The key's bytes, as the vault stores them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn cipher(&self) -> Aes256GcmSiv {
        Aes256GcmSiv::new((&self.0).into())
    }

    /// Encrypts `plaintext`, the value of `field` of `subject`'s data; `nonce_seed`
    /// names the value's place in the log (its event id and ordinal in the event).
    pub fn encrypt(
        &self,
        subject: Uuid,
        field: &str,
        nonce_seed: &[u8],
        plaintext: &str,
    ) -> String {
        let digest = Sha256::new()
            .chain_update(b"crm-pii-nonce")
            .chain_update(subject.as_bytes())
            .chain_update(nonce_seed)
            .finalize();
        let nonce = Nonce::from_slice(&digest[..12]);
        let aad = associated_data(subject, field);
        let sealed = self.cipher().encrypt(
            nonce,
            Payload {
                msg: plaintext.as_bytes(),
                aad: &aad,
            },
        );
        // Encryption of a message this small cannot fail (only > 64 GiB does).
        let sealed = sealed.unwrap_or_default();
        let mut bytes = Vec::with_capacity(12 + sealed.len());
        bytes.extend_from_slice(&digest[..12]);
        bytes.extend_from_slice(&sealed);
        format!(
            "{PREFIX}{}:{}",
            subject.simple(),
            URL_SAFE_NO_PAD.encode(bytes)
        )
    }

    /// Decrypts a value made by [`SubjectKey::encrypt`] for `field`.
    pub fn decrypt(&self, token: &str, field: &str) -> Result<String, PiiError> {
        let (subject, body) = parse(token).ok_or(PiiError::Malformed)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| PiiError::Malformed)?;
        if bytes.len() < 12 + 16 {
            return Err(PiiError::Malformed);
        }
        let (nonce, sealed) = bytes.split_at(12);
        let aad = associated_data(subject, field);
        let plain = self
            .cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| PiiError::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| PiiError::Undecryptable)
    }
}

/// The subject and field an encrypted value is bound to.
fn associated_data(subject: Uuid, field: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(16 + field.len());
    aad.extend_from_slice(subject.as_bytes());
    aad.extend_from_slice(field.as_bytes());
    aad
}

/// The subject of an encrypted value and its base64 body; None if `value` is not one.
pub fn parse(value: &str) -> Option<(Uuid, &str)> {
    let rest = value.strip_prefix(PREFIX)?;
    let (subject, body) = rest.split_once(':')?;
    if subject.len() != 32 {
        return None;
    }
    Some((Uuid::try_parse(subject).ok()?, body))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_value_decrypts_back_under_its_key_subject_and_field() {
        let key = SubjectKey::generate();
        let subject = Uuid::new_v4();
        let token = key.encrypt(subject, "phone", b"event-1/0", "+380 44 123 45 67");
        assert!(token.starts_with(PREFIX));
        assert!(!token.contains("123 45 67"));
        assert_eq!(parse(&token).map(|p| p.0), Some(subject));
        assert_eq!(key.decrypt(&token, "phone").unwrap(), "+380 44 123 45 67");
        // Deterministic for one place in the log, different for another place.
        assert_eq!(
            token,
            key.encrypt(subject, "phone", b"event-1/0", "+380 44 123 45 67")
        );
        assert_ne!(
            token,
            key.encrypt(subject, "phone", b"event-1/1", "+380 44 123 45 67")
        );
        let empty = key.encrypt(subject, "name", b"e/0", "");
        assert_eq!(key.decrypt(&empty, "name").unwrap(), "");
    }

    #[test]
    fn another_key_subject_or_field_fails() {
        let key = SubjectKey::generate();
        let subject = Uuid::new_v4();
        let token = key.encrypt(subject, "name", b"e/0", "Olena Petrenko");
        assert_eq!(
            SubjectKey::generate().decrypt(&token, "name"),
            Err(PiiError::Undecryptable)
        );
        assert_eq!(key.decrypt(&token, "email"), Err(PiiError::Undecryptable));
        // The same body claimed for another subject.
        let (_, body) = parse(&token).unwrap();
        let other = format!("{PREFIX}{}:{body}", Uuid::new_v4().simple());
        assert_eq!(key.decrypt(&other, "name"), Err(PiiError::Undecryptable));
    }

    #[test]
    fn a_tampered_or_malformed_value_fails() {
        let key = SubjectKey::generate();
        let subject = Uuid::new_v4();
        let token = key.encrypt(subject, "email", b"e/0", "olena@example.com");
        let (_, body) = parse(&token).unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(body).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = format!(
            "{PREFIX}{}:{}",
            subject.simple(),
            URL_SAFE_NO_PAD.encode(&bytes)
        );
        assert_eq!(
            key.decrypt(&tampered, "email"),
            Err(PiiError::Undecryptable)
        );
        assert_eq!(key.decrypt("Olena", "email"), Err(PiiError::Malformed));
        assert_eq!(
            key.decrypt(&format!("{PREFIX}{}:!!", subject.simple()), "email"),
            Err(PiiError::Malformed)
        );
        assert_eq!(SubjectKey::from_bytes(&[0u8; 31]), None);
        assert!(SubjectKey::from_bytes(key.as_bytes()).is_some_and(|k| k == key));
    }
}
