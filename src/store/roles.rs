//! Roles (RL...): the permission sets given to users (`service` roles) and participants
//! (`conversation` roles). Every service starts with the four roles of
//! `permissions::DEFAULT_ROLES`, seeded by `ServiceStore::insert_service`.

use crate::error::Result;
use crate::wire::paging::{Page, PageRequest};

#[derive(Debug, Clone)]
pub struct RoleRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_id: i64,
    pub service_sid: String,
    pub friendly_name: String,
    /// `service` or `conversation`.
    pub role_type: String,
    pub permissions: Vec<String>,
    pub date_created: i64,
    pub date_updated: i64,
}

/// What can name a role of its service, and so keep it from being deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleHolder {
    /// A user's `role_sid`.
    Users,
    /// A participant's `role_sid`.
    Participants,
    /// One of the service configuration's default roles.
    ServiceConfiguration,
}

pub trait RoleStore {
    /// The service's role with this SID.
    fn find_role(&self, service_id: i64, sid: &str) -> Result<Option<RoleRow>>;

    /// The service's roles, in creation order (the seeded roles first).
    fn list_roles(&self, service_id: i64, req: &PageRequest) -> Result<Page<RoleRow>>;

    /// Inserts a role (its `id` is ignored) and returns its id.
    fn insert_role(&mut self, row: &RoleRow) -> Result<i64>;

    /// Writes the role's permissions and `date_updated` (found by its id); its name and type
    /// never change.
    fn update_role(&mut self, row: &RoleRow) -> Result<()>;

    /// What still names the role in its service, each kind of holder once, in the order of
    /// [`RoleHolder`]; empty when nothing does.
    fn role_holders(&self, role: &RoleRow) -> Result<Vec<RoleHolder>>;

    /// Deletes the role. Nothing that names it is changed: the caller has checked that nothing
    /// does ([`RoleStore::role_holders`]).
    fn delete_role(&mut self, id: i64) -> Result<()>;
}
