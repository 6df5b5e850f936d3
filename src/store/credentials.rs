//! Push credentials (CR...): account-level, write-only secrets for APNs, GCM and FCM.
//!
//! The secret material (`certificate`, `private_key`, `api_key`, `secret`) is stored so that a
//! push sender can use it, but [`CredentialRow`] does not even carry it, and no method here
//! reads it back: nothing read through this trait can leak it into a response.

use crate::error::Result;
use crate::wire::paging::{Page, PageRequest};

/// A credential as the API shows it: everything but the secrets.
#[derive(Debug, Clone)]
pub struct CredentialRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub friendly_name: Option<String>,
    pub credential_type: String,
    pub sandbox: bool,
    pub date_created: i64,
    pub date_updated: i64,
}

/// The secret material of a credential. `None` leaves a stored value as it is on update.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    pub certificate: Option<String>,
    pub private_key: Option<String>,
    pub api_key: Option<String>,
    pub secret: Option<String>,
}

/// The method names say `push_credential` because accounts have credentials of their own (an
/// auth token, API keys: `AccountStore`).
pub trait CredentialStore {
    /// The account's push credential with this SID.
    fn push_credential(&self, account_sid: &str, sid: &str) -> Result<Option<CredentialRow>>;

    /// The account's push credentials, in creation order.
    fn list_push_credentials(
        &self,
        account_sid: &str,
        req: &PageRequest,
    ) -> Result<Page<CredentialRow>>;

    /// Inserts a credential (its `id` is ignored) with its secrets, and returns its id.
    fn insert_push_credential(&mut self, row: &CredentialRow, secrets: &Secrets) -> Result<i64>;

    /// Writes the credential's friendly name, sandbox flag and `date_updated` (found by its id;
    /// its type never changes), and each secret that `secrets` has; the others keep their
    /// stored value.
    fn update_push_credential(&mut self, row: &CredentialRow, secrets: &Secrets) -> Result<()>;

    /// Deletes the credential. Bindings that name it are left as they are.
    ///
    /// Twilio documents DeleteCredential with a plain 204 and no in-use conflict, and reports a
    /// binding whose credential is gone only when a push is sent to it (error 52002 "Invalid
    /// Credential Sid", a debugger-log error: https://www.twilio.com/docs/api/errors/52002); so
    /// the delete succeeds and the bindings keep their `credential_sid`, as a client SDK's
    /// registration would until it registers again. (That is why a binding's `credential_sid`
    /// is a plain SID and not a foreign key.)
    fn delete_push_credential(&mut self, id: i64) -> Result<()>;
}
