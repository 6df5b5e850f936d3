//! HTTP Basic auth: `AccountSid:AuthToken` or `ApiKeySid:Secret`, as Twilio takes them.
//!
//! Credentials are kept in memory (loaded from the store at start and added to as accounts and
//! keys are created), so checking one costs a hash lookup, not a query. A deleted account's are
//! forgotten: at once on the node that deleted it, and on the others (PostgreSQL) as soon as
//! they hear of it (`follow_deletions`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;

use crate::store::Wakeups;
use crate::store::accounts::Credential;

#[derive(Default)]
pub struct Credentials {
    by_username: RwLock<HashMap<String, Credential>>,
    /// Counts the times credentials were forgotten: a credential read from the store before
    /// one of them is not kept (`add_read_at`), as it may open a deleted account.
    forgotten: AtomicU64,
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

    /// Where the credentials are now, for `add_read_at`: read it before reading a credential
    /// from the store.
    pub fn generation(&self) -> u64 {
        self.forgotten.load(Ordering::Acquire)
    }

    /// Keeps a credential read from the store, unless credentials were forgotten since
    /// `generation`. Answers whether it was kept.
    pub fn add_read_at(&self, credential: Credential, generation: u64) -> bool {
        let mut known = self.by_username.write().expect("credentials poisoned");
        // Under the lock: a forgetting either came before (and is seen) or waits for this.
        if self.forgotten.load(Ordering::Acquire) != generation {
            return false;
        }
        known.insert(credential.username.clone(), credential);
        true
    }

    /// Forgets every credential that opens the account (it was deleted).
    pub fn forget_account(&self, account_sid: &str) {
        let mut known = self.by_username.write().expect("credentials poisoned");
        self.forgotten.fetch_add(1, Ordering::AcqRel);
        known.retain(|_, c| c.account_sid != account_sid);
    }

    /// Forgets every credential: an account was deleted through another node, which does not
    /// say which. Those still good are read from the store again as they are used.
    pub fn forget_all(&self) {
        let mut known = self.by_username.write().expect("credentials poisoned");
        self.forgotten.fetch_add(1, Ordering::AcqRel);
        known.clear();
    }

    /// Forgets every credential each time another node says it deleted an account, for as long
    /// as the server runs.
    pub fn follow_deletions(self: Arc<Self>, wake: Arc<Wakeups>) {
        tokio::spawn(async move {
            loop {
                wake.accounts_deleted.notified().await;
                self.forget_all();
            }
        });
    }

    /// The account that the request's `Authorization` header opens, if any.
    pub fn authenticate(&self, headers: &HeaderMap) -> Option<String> {
        let (username, password) = basic_credentials(headers)?;
        let known = self.by_username.read().expect("credentials poisoned");
        opened_by(known.get(&username)?, &password)
    }
}

/// The account `credential` opens, if the request's `Authorization` header is it.
pub fn opens(credential: &Credential, headers: &HeaderMap) -> Option<String> {
    let (username, password) = basic_credentials(headers)?;
    (username == credential.username)
        .then(|| opened_by(credential, &password))
        .flatten()
}

fn opened_by(credential: &Credential, password: &str) -> Option<String> {
    credential
        .secret
        .matches(password)
        .then(|| credential.account_sid.clone())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::Secret;

    fn credential(username: &str, account_sid: &str) -> Credential {
        Credential {
            username: username.into(),
            secret: Secret::Plain("token".into()),
            account_sid: account_sid.into(),
        }
    }

    fn basic(username: &str, password: &str) -> HeaderMap {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, format!("Basic {encoded}").parse().unwrap());
        headers
    }

    #[test]
    fn a_credential_read_before_a_deletion_is_not_kept() {
        let credentials = Credentials::default();
        let before = credentials.generation();
        credentials.forget_all();
        assert!(!credentials.add_read_at(credential("AC1", "AC1"), before));
        assert_eq!(credentials.authenticate(&basic("AC1", "token")), None);

        let now = credentials.generation();
        assert!(credentials.add_read_at(credential("AC1", "AC1"), now));
        assert_eq!(
            credentials.authenticate(&basic("AC1", "token")).as_deref(),
            Some("AC1")
        );
        assert_eq!(credentials.authenticate(&basic("AC1", "wrong")), None);
    }

    #[test]
    fn forgetting_an_account_forgets_its_keys_too() {
        let credentials = Credentials::new(vec![
            credential("AC1", "AC1"),
            credential("SK1", "AC1"),
            credential("AC2", "AC2"),
        ]);
        credentials.forget_account("AC1");
        assert_eq!(credentials.authenticate(&basic("AC1", "token")), None);
        assert_eq!(credentials.authenticate(&basic("SK1", "token")), None);
        assert_eq!(
            credentials.authenticate(&basic("AC2", "token")).as_deref(),
            Some("AC2")
        );
    }

    #[test]
    fn opens_checks_the_username_and_the_secret() {
        let key = credential("SK1", "AC1");
        assert_eq!(opens(&key, &basic("SK1", "token")).as_deref(), Some("AC1"));
        assert_eq!(opens(&key, &basic("SK2", "token")), None);
        assert_eq!(opens(&key, &basic("SK1", "nope")), None);
    }
}
