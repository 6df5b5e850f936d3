//! HTTP Basic auth: `AccountSid:AuthToken` or `ApiKeySid:Secret`, as Twilio takes them.
//!
//! Credentials are kept in memory (loaded from the store at start and added to as accounts and
//! keys are created), so checking one costs a hash lookup, not a query.

use std::collections::HashMap;
use std::sync::RwLock;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;

use crate::store::accounts::Credential;

#[derive(Default)]
pub struct Credentials {
    by_username: RwLock<HashMap<String, Credential>>,
}

impl Credentials {
    pub fn new(all: Vec<Credential>) -> Self {
        let creds = Self::default();
        for c in all {
            creds.add(c);
        }
        creds
    }

    pub fn add(&self, credential: Credential) {
        self.by_username
            .write()
            .expect("credentials poisoned")
            .insert(credential.username.clone(), credential);
    }

    /// Forgets every credential that opens the account (it was deleted).
    pub fn forget_account(&self, account_sid: &str) {
        self.by_username
            .write()
            .expect("credentials poisoned")
            .retain(|_, c| c.account_sid != account_sid);
    }

    /// The account that the request's `Authorization` header opens, if any.
    pub fn authenticate(&self, headers: &HeaderMap) -> Option<String> {
        let (username, password) = basic_credentials(headers)?;
        let known = self.by_username.read().expect("credentials poisoned");
        let credential = known.get(&username)?;
        credential
            .secret
            .matches(&password)
            .then(|| credential.account_sid.clone())
    }
}

/// The Basic-auth username of the request, if it has one.
pub fn basic_username(headers: &HeaderMap) -> Option<String> {
    basic_credentials(headers).map(|(user, _)| user)
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}
