//! Push bindings (BS...): one per service, user identity, device (endpoint) and push channel
//! (twilio-behavior.md 20). On Twilio a client SDK creates them when it registers a device for
//! push; confab's registration extension ([`register`]) stands in for that. The REST API
//! lists, fetches and deletes them.

use super::{credentials, services};
use crate::error::{Code, Error, Result};
use crate::sid::{Prefix, is_sid, new_sid};
use crate::store::bindings::{BindingFilter, BindingRegistration, BindingRow};
use crate::store::{Store, Tenant, Tx};
use crate::wire::paging::{Page, PageRequest};

/// A validated device registration (confab's stand-in for a client SDK's).
#[derive(Debug, Clone)]
pub struct Registration {
    pub identity: String,
    pub binding_type: String,
    pub endpoint: String,
    /// The device's push token (APNs device token, FCM/GCM registration token).
    pub address: Option<String>,
    pub credential_sid: Option<String>,
    pub message_types: Vec<String>,
}

/// One of the service's bindings, named by the request path, or 404 (a string that is not a
/// binding SID names none).
fn find_in_path(tx: &dyn Tx, service_id: i64, sid: &str) -> Result<BindingRow> {
    if !is_sid(Prefix::Binding, sid) {
        return Err(Error::not_found());
    }
    tx.find_binding(service_id, sid)?
        .ok_or_else(Error::not_found)
}

/// ListServiceBinding, in creation order.
pub async fn list(
    store: &Store,
    tenant: Tenant,
    filter: BindingFilter,
    req: PageRequest,
) -> Result<Page<BindingRow>> {
    store
        .read(move |tx| {
            let service = services::find(tx, &tenant)?;
            tx.list_bindings(service.id, &filter, &req)
        })
        .await
}

/// FetchServiceBinding.
pub async fn fetch(store: &Store, tenant: Tenant, sid: String) -> Result<BindingRow> {
    store
        .read(move |tx| {
            let service = services::find(tx, &tenant)?;
            find_in_path(tx, service.id, &sid)
        })
        .await
}

/// DeleteServiceBinding.
pub async fn delete(store: &Store, tenant: Tenant, sid: String) -> Result<()> {
    store
        .write(move |tx| {
            let service = services::find(tx, &tenant)?;
            let current = find_in_path(tx, service.id, &sid)?;
            tx.delete_binding(current.id)
        })
        .await
}

/// The credential a push binding sends with: one of the account's, of the binding's own push
/// type. A missing one is `CredentialSidMissing` and a wrong one `InvalidCredentialSid`, the
/// codes Twilio gives when a registration carries no usable credential
/// (https://www.twilio.com/docs/api/errors/52004, .../52002). A `twilsock` binding uses none.
fn check_credential(
    tx: &dyn Tx,
    tenant: &Tenant,
    binding_type: &str,
    credential_sid: Option<&str>,
) -> Result<()> {
    match (binding_type, credential_sid) {
        ("twilsock", None) => Ok(()),
        ("twilsock", Some(sid)) => Err(Error::with(
            Code::InvalidCredentialSid,
            format!("{sid}: twilsock bindings use no push credential"),
        )),
        (_, None) => Err(Error::with(
            Code::CredentialSidMissing,
            format!("a {binding_type} binding needs CredentialSid"),
        )),
        (_, Some(sid)) => match credentials::find(tx, &tenant.account_sid, sid)? {
            Some(c) if c.credential_type == binding_type => Ok(()),
            Some(c) => Err(Error::with(
                Code::InvalidCredentialSid,
                format!(
                    "{sid}: a {} credential cannot send to a {binding_type} binding",
                    c.credential_type
                ),
            )),
            None => Err(Error::with(
                Code::InvalidCredentialSid,
                format!("{sid}: no such credential on this account"),
            )),
        },
    }
}

/// Registers a device: creates its binding, or, when the service already has one for the same
/// identity, endpoint and binding type, updates that one in place (same SID) with the new
/// credential, token and message types. Twilio's Binding resource is "unique per Service
/// instance, User identity, device, and notification channel"
/// (https://www.twilio.com/docs/conversations/api/service-binding-resource), and a client
/// registering again refreshes its subscription rather than adding a second one. Answers the
/// binding and whether it is new.
pub async fn register(
    store: &Store,
    tenant: Tenant,
    reg: Registration,
) -> Result<(BindingRow, bool)> {
    store
        .write(move |tx| {
            let service = services::find(tx, &tenant)?;
            check_credential(
                tx,
                &tenant,
                &reg.binding_type,
                reg.credential_sid.as_deref(),
            )?;
            let registration = BindingRegistration {
                sid: new_sid(Prefix::Binding),
                service_id: service.id,
                identity: reg.identity,
                endpoint: reg.endpoint,
                binding_type: reg.binding_type,
                address: reg.address,
                credential_sid: reg.credential_sid,
                message_types: reg.message_types,
                date: tx.now(),
            };
            let (sid, created) = tx.register_binding(&registration)?;
            let row = tx.find_binding(service.id, &sid)?.ok_or_else(|| {
                Error::internal(format!("binding {sid} not found once registered"))
            })?;
            Ok((row, created))
        })
        .await
}
