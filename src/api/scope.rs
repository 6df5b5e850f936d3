//! The caller of a `/v1` request, resolved once: who they are (Basic auth), which service the
//! path names (or the account's default), how to build absolute URLs for them, and whether
//! they asked for webhooks. Handlers never see the path prefix.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;

use crate::app::AppState;
use crate::error::{Code, Error};
use crate::store::{ServiceRef, Tenant};
use crate::wire::params::webhooks_enabled;
use crate::wire::urls::Urls;

pub struct Scope {
    pub tenant: Tenant,
    pub urls: Urls,
}

impl Scope {
    /// The tenant, by value, for a store call.
    pub fn tenant(&self) -> Tenant {
        self.tenant.clone()
    }

    pub fn account_sid(&self) -> &str {
        &self.tenant.account_sid
    }
}

impl FromRequestParts<AppState> for Scope {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let account_sid = state.authenticate(&parts.headers).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::with(Code::NotFound, parts.uri.path()))?;
        let service_sid = params
            .iter()
            .find(|(name, _)| *name == "service")
            .map(|(_, v)| v.to_string());
        let (service, prefix) = match service_sid {
            Some(sid) => (ServiceRef::Sid(sid.clone()), format!("/v1/Services/{sid}")),
            None => (ServiceRef::Default, "/v1".to_string()),
        };
        Ok(Scope {
            tenant: Tenant {
                account_sid,
                service,
                webhooks: webhooks_enabled(&parts.headers),
            },
            urls: Urls::from_request(state.public_url.as_deref(), &parts.headers, prefix),
        })
    }
}
