//! The route table: every operation of the Twilio Conversations API v1 on one line, in the
//! spec's order, plus confab's own extension routes outside `/v1`.
//!
//! Per-service resources are mounted twice: under `/v1` (the account's default service) and
//! under `/v1/Services/{service}`. One capture name per position (`{service}` stands for both
//! the spec's `{Sid}` and `{ChatServiceSid}`): axum refuses two names in one position.

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, delete, get, post};

use super::*;
use crate::app::AppState;
use crate::error::{Code, Error};

/// Resources that live inside a service, relative to either prefix.
fn per_service() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        (
            "/Conversations",
            get(conversations::list).post(conversations::create),
        ),
        (
            "/Conversations/{conversation}",
            get(conversations::fetch)
                .post(conversations::update)
                .delete(conversations::delete),
        ),
        (
            "/Conversations/{conversation}/Messages",
            get(messages::list).post(messages::create),
        ),
        (
            "/Conversations/{conversation}/Messages/{message}",
            get(messages::fetch)
                .post(messages::update)
                .delete(messages::delete),
        ),
        (
            "/Conversations/{conversation}/Messages/{message}/Receipts",
            get(receipts::list),
        ),
        // Not in the v1 spec, but every message links to it (`links.channel_metadata`).
        (
            "/Conversations/{conversation}/Messages/{message}/ChannelMetadata",
            get(messages::channel_metadata),
        ),
        (
            "/Conversations/{conversation}/Messages/{message}/Receipts/{receipt}",
            get(receipts::fetch),
        ),
        (
            "/Conversations/{conversation}/Participants",
            get(participants::list).post(participants::create),
        ),
        (
            "/Conversations/{conversation}/Participants/{participant}",
            get(participants::fetch)
                .post(participants::update)
                .delete(participants::delete),
        ),
        (
            "/Conversations/{conversation}/Webhooks",
            get(conversation_webhooks::list).post(conversation_webhooks::create),
        ),
        (
            "/Conversations/{conversation}/Webhooks/{webhook}",
            get(conversation_webhooks::fetch)
                .post(conversation_webhooks::update)
                .delete(conversation_webhooks::delete),
        ),
        (
            "/ConversationWithParticipants",
            post(conversation_with_participants::create),
        ),
        (
            "/ParticipantConversations",
            get(participant_conversations::list),
        ),
        ("/Roles", get(roles::list).post(roles::create)),
        (
            "/Roles/{role}",
            get(roles::fetch).post(roles::update).delete(roles::delete),
        ),
        ("/Users", get(users::list).post(users::create)),
        (
            "/Users/{user}",
            get(users::fetch).post(users::update).delete(users::delete),
        ),
        ("/Users/{user}/Conversations", get(user_conversations::list)),
        (
            "/Users/{user}/Conversations/{conversation}",
            get(user_conversations::fetch)
                .post(user_conversations::update)
                .delete(user_conversations::delete),
        ),
    ]
}

/// Resources that exist only under `/v1/Services/{service}`.
fn service_only() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("", get(services::fetch).delete(services::delete)),
        ("/Bindings", get(bindings::list)),
        (
            "/Bindings/{binding}",
            get(bindings::fetch).delete(bindings::delete),
        ),
        (
            "/Configuration",
            get(service_configuration::fetch).post(service_configuration::update),
        ),
        (
            "/Configuration/Notifications",
            get(notifications::fetch).post(notifications::update),
        ),
        (
            "/Configuration/Webhooks",
            get(service_webhooks::fetch).post(service_webhooks::update),
        ),
        ("/Media", post(media::create)),
        ("/Media/{media}", get(media::fetch)),
        ("/Media/{media}/Content", get(media::content)),
    ]
}

/// Resources that exist only at the account level, under `/v1`.
fn account_only() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        (
            "/Configuration",
            get(configuration::fetch).post(configuration::update),
        ),
        (
            "/Configuration/Addresses",
            get(addresses::list).post(addresses::create),
        ),
        (
            "/Configuration/Addresses/{address}",
            get(addresses::fetch)
                .post(addresses::update)
                .delete(addresses::delete),
        ),
        (
            "/Configuration/Webhooks",
            get(account_webhooks::fetch).post(account_webhooks::update),
        ),
        (
            "/Credentials",
            get(credentials::list).post(credentials::create),
        ),
        (
            "/Credentials/{credential}",
            get(credentials::fetch)
                .post(credentials::update)
                .delete(credentials::delete),
        ),
        ("/Services", get(services::list).post(services::create)),
    ]
}

/// confab's own routes, outside Twilio's namespace.
fn extensions() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/healthz", get(confab::healthz)),
        ("/readyz", get(confab::readyz)),
        ("/metrics", get(confab::metrics)),
        (
            "/confab/Accounts",
            get(confab::list_accounts).post(confab::create_account),
        ),
        ("/confab/Accounts/{account}", delete(confab::delete_account)),
        (
            "/confab/Accounts/{account}/Keys",
            post(confab::create_api_key),
        ),
        ("/confab/Events", get(events::stream)),
        (
            "/confab/Accounts/{account}/Reset",
            post(confab::reset_account),
        ),
        (
            "/confab/Accounts/{account}/Fixtures",
            get(fixtures::export).post(fixtures::import),
        ),
        (
            "/confab/Accounts/{account}/Faults",
            get(faults::fetch).post(faults::set).delete(faults::clear),
        ),
        (
            "/confab/Webhooks/Deliveries",
            get(confab::list_webhook_deliveries),
        ),
        (
            "/confab/Clock",
            get(confab::fetch_clock).post(confab::move_clock),
        ),
        ("/confab/Outbound", get(outbound::list)),
        ("/confab/Inbound", get(inbound::list).post(inbound::receive)),
        ("/confab/Receipts/{receipt}", post(outbound::set_status)),
        (
            "/confab/Services/{service}/Bindings",
            post(push_registrations::register),
        ),
        ("/console", get(console::index)),
        ("/console/", get(console::page)),
        ("/console/{file}", get(console::asset)),
    ]
}

/// Every route, with Twilio-shaped answers for unknown paths (`NotFound`) and wrong methods
/// (`MethodNotAllowed`).
pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for (path, route) in per_service() {
        router = router.route(&format!("/v1{path}"), route.clone());
        router = router.route(&format!("/v1/Services/{{service}}{path}"), route);
    }
    for (path, route) in service_only() {
        router = router.route(&format!("/v1/Services/{{service}}{path}"), route);
    }
    for (path, route) in account_only() {
        router = router.route(&format!("/v1{path}"), route);
    }
    for (path, route) in extensions() {
        router = router.route(path, route);
    }
    router
        .fallback(|uri: axum::http::Uri| async move {
            Error::with(Code::NotFound, uri.path()).into_response()
        })
        .method_not_allowed_fallback(|| async {
            Error::new(Code::MethodNotAllowed).into_response()
        })
}
