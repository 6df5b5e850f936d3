//! Secrets that are only ever verified: an API key's secret is shown once, when the key is
//! made, and kept as a salted SHA-256 hash. (An account's auth token is kept as it is: it signs
//! the account's webhooks.)
//!
//! A fast hash, not a password hash: every request that presents a key is checked against it,
//! and the secrets are 128 random bits, which no one guesses by trying hashes.

use sha2::{Digest, Sha256};

/// What a credential's password is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// The secret itself (an account's auth token).
    Plain(String),
    /// SHA-256 of the salt and the secret, both hex (an API key's).
    Hashed { salt: String, hash: String },
}

impl Secret {
    /// A new random salt and the hash of `secret` with it.
    pub fn hashed(secret: &str) -> Self {
        let salt = crate::sid::new_secret();
        let hash = hash(&salt, secret);
        Secret::Hashed { salt, hash }
    }

    /// Whether `presented` is this secret, in time that does not depend on where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        match self {
            Secret::Plain(secret) => constant_time_eq(secret.as_bytes(), presented.as_bytes()),
            Secret::Hashed { salt, hash: stored } => {
                constant_time_eq(stored.as_bytes(), hash(salt, presented).as_bytes())
            }
        }
    }
}

fn hash(salt: &str, secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(secret.as_bytes());
    hex::encode(hasher.finalize())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_secret_matches_only_itself_and_keeps_no_trace_of_it() {
        let secret = Secret::hashed("s3cret");
        assert!(secret.matches("s3cret"));
        assert!(!secret.matches("s3cret "));
        assert!(!secret.matches(""));
        let Secret::Hashed { salt, hash } = &secret else {
            panic!("hashed");
        };
        assert!(!hash.contains("s3cret") && !salt.contains("s3cret"));
        assert_ne!(Secret::hashed("s3cret"), secret, "a salt of its own");
    }

    #[test]
    fn a_plain_secret_matches_only_itself() {
        let token = Secret::Plain("tok".into());
        assert!(token.matches("tok"));
        assert!(!token.matches("to"));
    }
}
