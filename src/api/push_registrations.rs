//! confab's device registration for push: `POST /confab/Services/{ChatServiceSid}/Bindings`.
//!
//! On Twilio, a Conversations client SDK creates a push Binding when the app registers its
//! device token; the REST API can only list, fetch and delete bindings. confab has no client
//! SDK, so this authenticated extension, outside Twilio's `/v1` namespace, registers a device
//! the way that registration would (docs/push-bindings.md). It answers the binding in the
//! spec's ServiceBinding shape: 201 when new, 200 when it refreshed the existing binding of the
//! same identity, endpoint and binding type.

use crate::wire::json::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::bindings::{binding_type, render};
use super::scope::Scope;
use crate::app::AppState;
use crate::domain::bindings::{self, Registration};
use crate::error::{Code, Error, Result};
use crate::wire::TwilioForm;
use crate::wire::params;

/// The push message types a binding may subscribe to (the spec's ServiceBinding example, and
/// the three events of the service's Notifications configuration). All three by default.
pub const MESSAGE_TYPES: &[&str] = &[
    "new_message",
    "added_to_conversation",
    "removed_from_conversation",
];
/// An identity is at most 256 characters (twilio-behavior.md 6).
const MAX_IDENTITY: usize = 256;
const MAX_ENDPOINT: usize = 256;

#[derive(Debug, Default, Deserialize)]
pub struct RegistrationParams {
    #[serde(rename = "Identity")]
    identity: Option<String>,
    #[serde(rename = "BindingType")]
    binding_type: Option<String>,
    #[serde(rename = "Endpoint")]
    endpoint: Option<String>,
    #[serde(rename = "Address")]
    address: Option<String>,
    #[serde(rename = "CredentialSid")]
    credential_sid: Option<String>,
    #[serde(rename = "MessageTypes", default)]
    message_types: Vec<String>,
}

fn required<'a>(name: &str, value: &'a Option<String>) -> Result<&'a str> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::missing(name))
}

impl RegistrationParams {
    fn check(&self) -> Result<Registration> {
        let identity = required("Identity", &self.identity)?;
        params::text(
            "Identity",
            Some(identity),
            MAX_IDENTITY,
            Code::IdentityTooLong,
        )?;
        let kind = binding_type(required("BindingType", &self.binding_type)?)?;
        let endpoint = required("Endpoint", &self.endpoint)?;
        params::text(
            "Endpoint",
            Some(endpoint),
            MAX_ENDPOINT,
            Code::InvalidParameter,
        )?;
        let mut message_types: Vec<String> = Vec::new();
        for t in &self.message_types {
            if !MESSAGE_TYPES.contains(&t.as_str()) {
                return Err(Error::invalid(
                    "MessageTypes",
                    format!("'{t}' is not one of {}", MESSAGE_TYPES.join(", ")),
                ));
            }
            if !message_types.contains(t) {
                message_types.push(t.clone());
            }
        }
        if message_types.is_empty() {
            message_types = MESSAGE_TYPES.iter().map(|t| t.to_string()).collect();
        }
        Ok(Registration {
            identity: identity.to_string(),
            binding_type: kind.to_string(),
            endpoint: endpoint.to_string(),
            address: self.address.clone().filter(|a| !a.is_empty()),
            credential_sid: self.credential_sid.clone().filter(|c| !c.is_empty()),
            message_types,
        })
    }
}

/// confab extension: POST /confab/Services/{ChatServiceSid}/Bindings registers a device for
/// push (creates or refreshes its Binding).
pub async fn register(
    scope: Scope,
    State(app): State<AppState>,
    TwilioForm(p): TwilioForm<RegistrationParams>,
) -> Result<(StatusCode, Json<Value>)> {
    let (row, created) = bindings::register(&app.store, scope.tenant(), p.check()?).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(render(&row, &scope.urls))))
}
