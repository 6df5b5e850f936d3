//! Conversation Services (IS...): the container of every other per-service resource, and the
//! service a request acts on.

use crate::error::Result;
use crate::wire::paging::{Page, PageRequest};

pub use super::{ServiceRef, Tenant};

/// A resolved service: its internal id and public SID.
#[derive(Debug, Clone)]
pub struct ServiceKey {
    pub id: i64,
    pub sid: String,
}

#[derive(Debug, Clone)]
pub struct ServiceRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub friendly_name: String,
    pub date_created: i64,
    pub date_updated: i64,
}

/// A role a new service is created with, and which default of its configuration it is.
#[derive(Debug, Clone)]
pub struct SeededRole {
    pub sid: String,
    pub friendly_name: String,
    pub role_type: String,
    /// JSON array of permission names.
    pub permissions: String,
}

/// The roles a new service's configuration names as its defaults.
#[derive(Debug, Clone, Default)]
pub struct DefaultRoles {
    pub conversation_creator: Option<String>,
    pub conversation: Option<String>,
    pub chat_service: Option<String>,
}

pub trait ServiceStore {
    /// The tenant's service: the one its path names, or the account's default.
    fn find_service(&self, tenant: &Tenant) -> Result<Option<ServiceKey>>;

    /// One of the account's services by id.
    fn service(&self, id: i64) -> Result<Option<ServiceRow>>;

    /// The account's services, in creation order.
    fn list_services(&self, account_sid: &str, req: &PageRequest) -> Result<Page<ServiceRow>>;

    /// The account's oldest service, if it has any.
    fn oldest_service(&self, account_sid: &str) -> Result<Option<String>>;

    /// Inserts a service (its `id` is ignored) with its roles and the configuration, push and
    /// webhook settings every service has; returns its id.
    fn insert_service(
        &mut self,
        row: &ServiceRow,
        roles: &[SeededRole],
        defaults: &DefaultRoles,
    ) -> Result<i64>;

    /// Deletes a service and everything inside it.
    fn delete_service(&mut self, id: i64) -> Result<()>;

    /// The account's default service becomes `to` if it was `from`.
    fn replace_default_service(&mut self, account_sid: &str, from: &str, to: &str) -> Result<()>;
}
