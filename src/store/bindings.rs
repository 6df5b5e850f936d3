//! Push bindings (BS...): one per service, user identity, device (endpoint) and push channel
//! (twilio-behavior.md 20). On Twilio a client SDK creates them when it registers a device for
//! push; confab's registration extension (`domain::bindings::register`) stands in for that.
//! The REST API lists, fetches and deletes them. They go with their service.

use crate::error::Result;
use crate::wire::paging::{Page, PageRequest};

#[derive(Debug, Clone)]
pub struct BindingRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub credential_sid: Option<String>,
    pub endpoint: String,
    pub identity: String,
    pub binding_type: String,
    pub message_types: Vec<String>,
    pub date_created: i64,
    pub date_updated: i64,
}

/// The filters of ListServiceBinding: a binding matches when its type is one of
/// `binding_types` and its identity one of `identities` (an empty list does not filter).
#[derive(Debug, Clone, Default)]
pub struct BindingFilter {
    pub binding_types: Vec<String>,
    pub identities: Vec<String>,
}

/// A device's registration, as the store writes it into a binding.
#[derive(Debug, Clone)]
pub struct BindingRegistration {
    /// The SID the binding takes if it is new.
    pub sid: String,
    pub service_id: i64,
    pub identity: String,
    pub endpoint: String,
    pub binding_type: String,
    /// The device's push token (APNs device token, FCM/GCM registration token).
    pub address: Option<String>,
    pub credential_sid: Option<String>,
    pub message_types: Vec<String>,
    /// `date_created` if the binding is new, and `date_updated` either way.
    pub date: i64,
}

pub trait BindingStore {
    /// The service's binding with this SID.
    fn find_binding(&self, service_id: i64, sid: &str) -> Result<Option<BindingRow>>;

    /// The service's bindings that `filter` lets through, in creation order.
    fn list_bindings(
        &self,
        service_id: i64,
        filter: &BindingFilter,
        req: &PageRequest,
    ) -> Result<Page<BindingRow>>;

    /// Writes the registration: a new binding, or, when the service has one for the same
    /// identity, endpoint and binding type already, that one, in place (its SID and
    /// `date_created` stay; its credential, address, message types and `date_updated` are the
    /// registration's). Answers the binding's SID and whether it is new. There is never more
    /// than one binding per service, identity, endpoint and binding type, whatever registers at
    /// the same time.
    fn register_binding(&mut self, registration: &BindingRegistration) -> Result<(String, bool)>;

    /// Deletes the binding.
    fn delete_binding(&mut self, id: i64) -> Result<()>;
}
