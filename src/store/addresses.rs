//! Address Configurations (IG...): one per address of an account, saying what an inbound
//! message to that address autocreates (twilio-behavior.md 19).

use crate::error::Result;
use crate::states::{AddressType, AutoCreationType};
use crate::wire::paging::{Page, PageRequest};

/// The `AutoCreation.*` settings: what an inbound message to the address creates, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoCreation {
    pub enabled: bool,
    pub kind: AutoCreationType,
    /// The service (IS...) autocreated conversations go to.
    pub service_sid: String,
    /// A `webhook` autocreation's scoped webhook.
    pub webhook_url: Option<String>,
    /// `GET` or `POST`.
    pub webhook_method: Option<String>,
    pub webhook_filters: Option<Vec<String>>,
    /// A `studio` autocreation's flow (FW...).
    pub studio_flow_sid: Option<String>,
    pub studio_retry_count: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct AddressRow {
    pub id: i64,
    pub sid: String,
    pub account_sid: String,
    pub address_type: AddressType,
    /// `+13115552368`, `whatsapp:+1...`: one configuration per address of an account.
    pub address: String,
    pub friendly_name: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    pub address_country: Option<String>,
    pub auto: AutoCreation,
    pub date_created: i64,
    pub date_updated: i64,
}

pub trait AddressConfigurationStore {
    /// One of the account's configurations, by IG SID or, failing the SID pattern, by its
    /// address.
    fn find_address_configuration(
        &self,
        account_sid: &str,
        sid_or_address: &str,
    ) -> Result<Option<AddressRow>>;

    /// The same, for a write job that changes or deletes it: no other write of it runs until
    /// this job ends (SQLite: there is one writer; PostgreSQL: the row is locked).
    fn lock_address_configuration(
        &mut self,
        account_sid: &str,
        sid_or_address: &str,
    ) -> Result<Option<AddressRow>>;

    /// The account's configurations, optionally of one address type, in creation order.
    fn list_address_configurations(
        &self,
        account_sid: &str,
        address_type: Option<AddressType>,
        req: &PageRequest,
    ) -> Result<Page<AddressRow>>;

    /// Inserts the configuration (its `id` is ignored) and returns its id. `Code::Conflict` if
    /// the account has a configuration for the address already.
    fn insert_address_configuration(&mut self, row: &AddressRow) -> Result<i64>;

    /// Writes the friendly name, the autocreation settings and `date_updated` of `row` (found
    /// by its id); its type, address and country are fixed at creation.
    fn update_address_configuration(&mut self, row: &AddressRow) -> Result<()>;

    fn delete_address_configuration(&mut self, id: i64) -> Result<()>;
}
