//! Push credentials (CR...): account-level, write-only secrets for APNs, GCM and FCM. Their
//! secrets are stored, never answered: [`CredentialRow`] does not carry them.

use crate::error::{Error, Result};
use crate::sid::{Prefix, is_sid, new_sid};
use crate::store::credentials::{CredentialRow, Secrets};
use crate::store::{Store, Tenant, Tx};
use crate::wire::paging::{Page, PageRequest};

/// A validated CreateCredential.
#[derive(Debug, Clone)]
pub struct NewCredential {
    pub credential_type: String,
    pub friendly_name: Option<String>,
    pub sandbox: Option<bool>,
    pub secrets: Secrets,
}

/// A validated UpdateCredential: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct CredentialUpdate {
    /// The type, when sent: it must be the credential's own (its secrets are that vendor's).
    pub credential_type: Option<String>,
    pub friendly_name: Option<String>,
    pub sandbox: Option<bool>,
    pub secrets: Secrets,
}

/// One of the account's credentials by SID; another account's is as absent as a credential
/// that never existed (and so is a string that is not a credential SID).
pub fn find(tx: &dyn Tx, account_sid: &str, sid: &str) -> Result<Option<CredentialRow>> {
    if !is_sid(Prefix::Credential, sid) {
        return Ok(None);
    }
    tx.push_credential(account_sid, sid)
}

/// One of the tenant's credentials, named by the request path, or 404.
fn find_in_path(tx: &dyn Tx, tenant: &Tenant, sid: &str) -> Result<CredentialRow> {
    find(tx, &tenant.account_sid, sid)?.ok_or_else(Error::not_found)
}

/// CreateCredential.
pub async fn create(store: &Store, tenant: Tenant, new: NewCredential) -> Result<CredentialRow> {
    store
        .write(move |tx| {
            let now = tx.now();
            let mut row = CredentialRow {
                id: 0,
                sid: new_sid(Prefix::Credential),
                account_sid: tenant.account_sid,
                friendly_name: new.friendly_name,
                credential_type: new.credential_type,
                sandbox: new.sandbox.unwrap_or(false),
                date_created: now,
                date_updated: now,
            };
            row.id = tx.insert_push_credential(&row, &new.secrets)?;
            Ok(row)
        })
        .await
}

/// FetchCredential.
pub async fn fetch(store: &Store, tenant: Tenant, sid: String) -> Result<CredentialRow> {
    store.read(move |tx| find_in_path(tx, &tenant, &sid)).await
}

/// ListCredential, in creation order.
pub async fn list(store: &Store, tenant: Tenant, req: PageRequest) -> Result<Page<CredentialRow>> {
    store
        .read(move |tx| tx.list_push_credentials(&tenant.account_sid, &req))
        .await
}

/// UpdateCredential. The type never changes: the secrets are that vendor's.
pub async fn update(
    store: &Store,
    tenant: Tenant,
    sid: String,
    change: CredentialUpdate,
) -> Result<CredentialRow> {
    store
        .write(move |tx| {
            let current = find_in_path(tx, &tenant, &sid)?;
            if let Some(t) = change
                .credential_type
                .filter(|t| *t != current.credential_type)
            {
                return Err(Error::invalid(
                    "Type",
                    format!("a {} credential cannot become {t}", current.credential_type),
                ));
            }
            let row = CredentialRow {
                friendly_name: change.friendly_name.or(current.friendly_name),
                sandbox: change.sandbox.unwrap_or(current.sandbox),
                date_updated: tx.now(),
                ..current
            };
            tx.update_push_credential(&row, &change.secrets)?;
            Ok(row)
        })
        .await
}

/// DeleteCredential. Bindings that name the credential are left as they are (the store's
/// `delete_push_credential` says why).
pub async fn delete(store: &Store, tenant: Tenant, sid: String) -> Result<()> {
    store
        .write(move |tx| {
            let current = find_in_path(tx, &tenant, &sid)?;
            tx.delete_push_credential(current.id)
        })
        .await
}
