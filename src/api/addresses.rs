//! Address Configurations: `/v1/Configuration/Addresses` and `/v1/Configuration/Addresses/{Sid}`
//! (account level only; `{Sid}` is the IG SID or the address itself).

use crate::wire::json::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::scope::Scope;
use crate::app::AppState;
use crate::domain::addresses::{self, AddressUpdate, AutoCreationChange, NewAddress};
use crate::error::{Code, Error, Result};
use crate::sid::Prefix;
use crate::states::{AddressType, AutoCreationType};
use crate::store::addresses::{AddressRow, AutoCreation};
use crate::webhook_events::{self, Accepted};
use crate::wire::paging::{self, LIMITS_50, ListPage, PageParams};
use crate::wire::params;
use crate::wire::time::format_date;
use crate::wire::urls::Urls;
use crate::wire::{TwilioForm, TwilioQuery};

/// `configuration_address_enum_type`.
pub const ADDRESS_TYPES: &[&str] = &[
    "sms",
    "whatsapp",
    "messenger",
    "gbm",
    "email",
    "rcs",
    "apple",
    "chat",
];
/// `configuration_address_enum_auto_creation_type`.
const AUTO_CREATION_TYPES: &[&str] = &["webhook", "studio", "default"];
/// `configuration_address_enum_method`; rendered in upper case (below).
const METHODS: &[&str] = &["get", "post"];
const MAX_FRIENDLY_NAME: usize = 256;
/// A conversation webhook URL is limited to 512 characters (twilio-behavior.md 6).
const MAX_WEBHOOK_URL: usize = 512;

/// `auto_creation` in the spec's shapes: `webhook` carries the webhook's settings, `studio` the
/// flow's, and `default` (a conversation in the default service, nothing attached) only
/// `enabled` and `type`, as the spec's examples show each.
fn render_auto_creation(auto: &AutoCreation) -> Value {
    match auto.kind {
        AutoCreationType::Webhook => json!({
            "enabled": auto.enabled,
            "type": auto.kind.as_str(),
            "conversation_service_sid": auto.service_sid,
            "webhook_url": auto.webhook_url,
            "webhook_method": auto.webhook_method,
            "webhook_filters": auto.webhook_filters.clone().unwrap_or_default(),
        }),
        AutoCreationType::Studio => json!({
            "enabled": auto.enabled,
            "type": auto.kind.as_str(),
            "conversation_service_sid": auto.service_sid,
            "studio_flow_sid": auto.studio_flow_sid,
            "studio_retry_count": auto.studio_retry_count,
        }),
        AutoCreationType::Default => json!({"enabled": auto.enabled, "type": auto.kind.as_str()}),
    }
}

pub fn render(row: &AddressRow, urls: &Urls) -> Value {
    json!({
        "account_sid": row.account_sid,
        "sid": row.sid,
        "address": row.address,
        "type": row.address_type.as_str(),
        "friendly_name": row.friendly_name,
        "address_country": row.address_country,
        "auto_creation": render_auto_creation(&row.auto),
        "date_created": format_date(row.date_created),
        "date_updated": format_date(row.date_updated),
        "url": urls.v1(&format!("Configuration/Addresses/{}", row.sid)),
    })
}

/// An enum value matched without regard to case, kept in the enum's own spelling. The spec's
/// examples send `whAtsAPP` and `post`: Twilio reads enums case-insensitively. (Its mock echoes
/// `whAtsAPP` back; confab stores the canonical value, so that the `Type` list filter finds it.)
fn enum_value(
    name: &str,
    value: Option<&str>,
    allowed: &[&'static str],
    code: Code,
) -> Result<Option<&'static str>> {
    let Some(value) = value else { return Ok(None) };
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(value))
        .copied()
        .map(Some)
        .ok_or_else(|| {
            params::refused(
                code,
                name,
                format!("'{value}', expected one of: {}", allowed.join(", ")),
            )
        })
}

/// The parameters of CreateConfigurationAddress and UpdateConfigurationAddress (an update
/// reads only `FriendlyName` and `AutoCreation.*`; the others are fixed at creation). One flat
/// struct: `serde(flatten)` would lose the repeated `AutoCreation.WebhookFilters`.
#[derive(Debug, Default, Deserialize)]
pub struct AddressParams {
    #[serde(rename = "Type")]
    address_type: Option<String>,
    #[serde(rename = "Address")]
    address: Option<String>,
    #[serde(rename = "FriendlyName")]
    friendly_name: Option<String>,
    #[serde(rename = "AddressCountry")]
    address_country: Option<String>,
    #[serde(rename = "AutoCreation.Enabled")]
    enabled: Option<String>,
    #[serde(rename = "AutoCreation.Type")]
    kind: Option<String>,
    #[serde(rename = "AutoCreation.ConversationServiceSid")]
    service_sid: Option<String>,
    #[serde(rename = "AutoCreation.WebhookUrl")]
    webhook_url: Option<String>,
    #[serde(rename = "AutoCreation.WebhookMethod")]
    webhook_method: Option<String>,
    #[serde(rename = "AutoCreation.WebhookFilters", default)]
    webhook_filters: Vec<String>,
    #[serde(rename = "AutoCreation.StudioFlowSid")]
    studio_flow_sid: Option<String>,
    #[serde(rename = "AutoCreation.StudioRetryCount")]
    studio_retry_count: Option<String>,
}

/// `Type`, as an address type (`InvalidParameter` otherwise).
fn address_type(value: Option<&str>) -> Result<Option<AddressType>> {
    let name = enum_value("Type", value, ADDRESS_TYPES, Code::InvalidParameter)?;
    Ok(name.and_then(AddressType::parse))
}

impl AddressParams {
    fn for_create(&self) -> Result<NewAddress> {
        let address_type =
            address_type(self.address_type.as_deref())?.ok_or_else(|| Error::missing("Type"))?;
        let address = self
            .address
            .clone()
            .filter(|a| !a.trim().is_empty())
            .ok_or_else(|| Error::missing("Address"))?;
        Ok(NewAddress {
            address_type,
            address,
            friendly_name: friendly_name(self.friendly_name.as_deref())?,
            address_country: country(self.address_country.as_deref())?,
            auto: self.auto_creation()?,
        })
    }

    fn for_update(&self) -> Result<AddressUpdate> {
        Ok(AddressUpdate {
            friendly_name: friendly_name(self.friendly_name.as_deref())?,
            auto: self.auto_creation()?,
        })
    }

    fn auto_creation(&self) -> Result<AutoCreationChange> {
        if let Some(url) = &self.webhook_url {
            check_webhook_url(url)?;
        }
        for filter in &self.webhook_filters {
            if !webhook_events::is_accepted(filter, Accepted::AutoCreation) {
                return Err(Error::with(
                    Code::InvalidWebhookFilter,
                    format!("AutoCreation.WebhookFilters: '{filter}' is not a post-event"),
                ));
            }
        }
        let studio_retry_count = params::integer(
            "AutoCreation.StudioRetryCount",
            self.studio_retry_count.as_deref(),
            Code::InvalidWebhookRetryCount,
        )?;
        if studio_retry_count.is_some_and(|n| n < 0) {
            return Err(params::refused(
                Code::InvalidWebhookRetryCount,
                "AutoCreation.StudioRetryCount",
                "cannot be negative",
            ));
        }
        Ok(AutoCreationChange {
            enabled: params::boolean("AutoCreation.Enabled", self.enabled.as_deref())?,
            kind: enum_value(
                "AutoCreation.Type",
                self.kind.as_deref(),
                AUTO_CREATION_TYPES,
                Code::InvalidParameter,
            )?
            .and_then(AutoCreationType::parse),
            service_sid: params::sid(
                "AutoCreation.ConversationServiceSid",
                self.service_sid.as_deref(),
                Prefix::Service,
                Code::ServiceNotFound,
            )?,
            webhook_url: self.webhook_url.clone(),
            // The spec's examples send `post` and render `POST`.
            webhook_method: enum_value(
                "AutoCreation.WebhookMethod",
                self.webhook_method.as_deref(),
                METHODS,
                Code::InvalidWebhookMethod,
            )?
            .map(str::to_uppercase),
            webhook_filters: (!self.webhook_filters.is_empty())
                .then(|| dedup(&self.webhook_filters)),
            studio_flow_sid: params::sid(
                "AutoCreation.StudioFlowSid",
                self.studio_flow_sid.as_deref(),
                Prefix::Flow,
                Code::InvalidWebhookFlowSid,
            )?,
            studio_retry_count,
        })
    }
}

/// The values in their first-seen order, each once.
fn dedup(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for v in values {
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    out
}

/// An absolute http(s) URL (`InvalidWebhook`) of at most 512 characters (`WebhookUrlTooLong`).
fn check_webhook_url(url: &str) -> Result<()> {
    if url.chars().count() > MAX_WEBHOOK_URL {
        return Err(params::refused(
            Code::WebhookUrlTooLong,
            "AutoCreation.WebhookUrl",
            format!("limit is {MAX_WEBHOOK_URL} characters"),
        ));
    }
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    if rest.is_none_or(|host| host.is_empty() || host.starts_with('/')) {
        return Err(Error::with(
            Code::InvalidWebhook,
            format!("AutoCreation.WebhookUrl '{url}' is not an absolute http(s) URL"),
        ));
    }
    Ok(())
}

/// `AddressCountry`: an ISO 3166-1 alpha-2 code, kept in upper case.
fn country(value: Option<&str>) -> Result<Option<String>> {
    match value {
        None => Ok(None),
        Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Ok(Some(c.to_ascii_uppercase()))
        }
        Some(c) => Err(Error::invalid(
            "AddressCountry",
            format!("'{c}' is not an ISO 3166-1 alpha-2 country code"),
        )),
    }
}

fn friendly_name(value: Option<&str>) -> Result<Option<String>> {
    params::text(
        "FriendlyName",
        value,
        MAX_FRIENDLY_NAME,
        Code::FriendlyNameTooLong,
    )
}

#[derive(Deserialize)]
pub struct AddressPath {
    address: String,
}

#[derive(Deserialize)]
pub struct ListFilters {
    #[serde(rename = "Type")]
    address_type: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

/// CreateConfigurationAddress: POST /v1/Configuration/Addresses
pub async fn create(
    scope: Scope,
    State(app): State<AppState>,
    TwilioForm(p): TwilioForm<AddressParams>,
) -> Result<(StatusCode, Json<Value>)> {
    let row = addresses::create(&app.store, scope.tenant(), p.for_create()?).await?;
    Ok((StatusCode::CREATED, Json(render(&row, &scope.urls))))
}

/// ListConfigurationAddress: GET /v1/Configuration/Addresses
pub async fn list(
    scope: Scope,
    State(app): State<AppState>,
    TwilioQuery(q): TwilioQuery<ListFilters>,
) -> Result<Json<ListPage<Value>>> {
    let req = q.page.validate(LIMITS_50)?;
    let address_type = address_type(q.address_type.as_deref())?;
    let rows = addresses::list(&app.store, scope.tenant(), address_type, req.clone()).await?;
    let echoed: Vec<(&str, String)> = q.address_type.iter().map(|t| ("Type", t.clone())).collect();
    let page = rows.map(|r| render(&r, &scope.urls));
    Ok(Json(paging::render(
        "address_configurations",
        page,
        &req,
        &scope.urls.v1("Configuration/Addresses"),
        &echoed,
    )))
}

/// FetchConfigurationAddress: GET /v1/Configuration/Addresses/{Sid}
pub async fn fetch(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<AddressPath>,
) -> Result<Json<Value>> {
    let row = addresses::fetch(&app.store, scope.tenant(), p.address).await?;
    Ok(Json(render(&row, &scope.urls)))
}

/// UpdateConfigurationAddress: POST /v1/Configuration/Addresses/{Sid}
pub async fn update(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<AddressPath>,
    TwilioForm(form): TwilioForm<AddressParams>,
) -> Result<Json<Value>> {
    let row = addresses::update(&app.store, scope.tenant(), p.address, form.for_update()?).await?;
    Ok(Json(render(&row, &scope.urls)))
}

/// DeleteConfigurationAddress: DELETE /v1/Configuration/Addresses/{Sid}
pub async fn delete(
    scope: Scope,
    State(app): State<AppState>,
    Path(p): Path<AddressPath>,
) -> Result<StatusCode> {
    addresses::delete(&app.store, scope.tenant(), p.address).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_must_be_absolute_http() {
        assert!(check_webhook_url("https://example.com/hook").is_ok());
        assert!(check_webhook_url("http://127.0.0.1:9000").is_ok());
        for bad in ["example.com", "ftp://example.com", "https://", "https:///x"] {
            assert_eq!(
                check_webhook_url(bad).unwrap_err().code,
                Code::InvalidWebhook,
                "{bad}"
            );
        }
        let long = format!("https://example.com/{}", "a".repeat(600));
        assert_eq!(
            check_webhook_url(&long).unwrap_err().code,
            Code::WebhookUrlTooLong
        );
    }

    #[test]
    fn enums_match_without_case_and_keep_their_spelling() {
        assert_eq!(
            enum_value(
                "Type",
                Some("whAtsAPP"),
                ADDRESS_TYPES,
                Code::InvalidParameter
            )
            .unwrap(),
            Some("whatsapp")
        );
        assert_eq!(
            address_type(Some("whAtsAPP")).unwrap(),
            Some(AddressType::Whatsapp)
        );
        assert_eq!(
            enum_value("Type", Some("fax"), ADDRESS_TYPES, Code::InvalidParameter)
                .unwrap_err()
                .code,
            Code::InvalidParameter
        );
    }
}

#[cfg(test)]
mod kind_tests {
    use super::*;

    /// The names the parameters accept are the kinds' own: none is read as nothing.
    #[test]
    fn every_accepted_name_is_a_kind() {
        for name in ADDRESS_TYPES {
            assert_eq!(
                AddressType::parse(name).map(AddressType::as_str),
                Some(*name)
            );
        }
        for name in AUTO_CREATION_TYPES {
            assert_eq!(
                AutoCreationType::parse(name).map(AutoCreationType::as_str),
                Some(*name)
            );
        }
        assert_eq!(ADDRESS_TYPES.len(), AddressType::ALL.len());
        assert_eq!(AUTO_CREATION_TYPES.len(), AutoCreationType::ALL.len());
    }
}

#[cfg(test)]
mod form_tests {
    use super::*;

    #[test]
    fn repeated_filters_reach_the_flattened_struct() {
        let p: AddressParams = serde_html_form::from_str(
            "Type=sms&Address=%2B1&AutoCreation.WebhookFilters=onMessageAdded&AutoCreation.WebhookFilters=onParticipantAdded",
        )
        .unwrap();
        assert_eq!(
            p.webhook_filters,
            vec!["onMessageAdded", "onParticipantAdded"]
        );
        let p: AddressParams = serde_html_form::from_str(
            "Type=sms&Address=%2B1&AutoCreation.WebhookFilters=onMessageAdded",
        )
        .unwrap();
        assert_eq!(p.webhook_filters, vec!["onMessageAdded"]);
        assert_eq!(p.address.as_deref(), Some("+1"));
    }
}
