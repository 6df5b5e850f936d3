//! Conversation Services (IS...): what creating and deleting one means, and which service a
//! request acts on.

use crate::error::{Error, Result};
use crate::permissions::{DEFAULT_ROLES, DefaultFor};
use crate::sid::{Prefix, new_sid};
use crate::store::services::{DefaultRoles, SeededRole, ServiceKey, ServiceRow};
use crate::store::{Store, Tenant, Tx};
use crate::wire::paging::{Page, PageRequest};

/// The friendly name of the service an account gets on first use.
pub const DEFAULT_SERVICE_NAME: &str = "Default Conversations Service";

/// The tenant's service, or 404: another account's service is as unknown as one that never
/// existed.
pub fn find(tx: &dyn Tx, tenant: &Tenant) -> Result<ServiceKey> {
    tx.find_service(tenant)?.ok_or_else(Error::not_found)
}

/// Adds a service to the account, with the default roles every new service has, inside the
/// caller's job.
pub fn add(tx: &mut dyn Tx, account_sid: &str, friendly_name: &str) -> Result<ServiceRow> {
    let now = tx.now();
    let mut roles = Vec::with_capacity(DEFAULT_ROLES.len());
    let mut defaults = DefaultRoles::default();
    for seed in DEFAULT_ROLES {
        let role = SeededRole {
            sid: new_sid(Prefix::Role),
            friendly_name: seed.friendly_name.to_string(),
            role_type: seed.role_type.to_string(),
            permissions: serde_json::to_string(seed.permissions).map_err(Error::internal)?,
        };
        let default = match seed.default_for {
            DefaultFor::ConversationCreatorRole => &mut defaults.conversation_creator,
            DefaultFor::ConversationRole => &mut defaults.conversation,
            DefaultFor::ChatServiceRole => &mut defaults.chat_service,
            DefaultFor::Nothing => &mut None,
        };
        *default = Some(role.sid.clone());
        roles.push(role);
    }
    let mut row = ServiceRow {
        id: 0,
        sid: new_sid(Prefix::Service),
        account_sid: account_sid.to_string(),
        friendly_name: friendly_name.to_string(),
        date_created: now,
        date_updated: now,
    };
    row.id = tx.insert_service(&row, &roles, &defaults)?;
    Ok(row)
}

/// CreateService.
pub async fn create(
    store: &Store,
    account_sid: String,
    friendly_name: String,
) -> Result<ServiceRow> {
    store
        .write(move |tx| add(tx, &account_sid, &friendly_name))
        .await
}

/// FetchService: `tenant.service` names it.
pub async fn fetch(store: &Store, tenant: Tenant) -> Result<ServiceRow> {
    store
        .read(move |tx| {
            let key = find(tx, &tenant)?;
            tx.service(key.id)?.ok_or_else(Error::not_found)
        })
        .await
}

/// ListService, in creation order.
pub async fn list(
    store: &Store,
    account_sid: String,
    req: PageRequest,
) -> Result<Page<ServiceRow>> {
    store
        .read(move |tx| tx.list_services(&account_sid, &req))
        .await
}

/// DeleteService: everything inside goes with it. If it was the account's default, the
/// default moves to the account's oldest remaining service; an account always has one, so when
/// none remains a new default service is created (as on first use).
pub async fn delete(store: &Store, tenant: Tenant) -> Result<()> {
    store
        .write(move |tx| {
            let key = find(tx, &tenant)?;
            tx.delete_service(key.id)?;
            let fallback = match tx.oldest_service(&tenant.account_sid)? {
                Some(sid) => sid,
                None => add(tx, &tenant.account_sid, DEFAULT_SERVICE_NAME)?.sid,
            };
            tx.replace_default_service(&tenant.account_sid, &key.sid, &fallback)
        })
        .await
}
