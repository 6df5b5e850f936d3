//! confab: a self-hosted, wire-compatible Twilio Conversations REST API v1 server.
//! See ARCHITECTURE.md for the map of the modules.

pub mod api;
pub mod app;
pub mod auth;
pub mod clock;
pub mod domain;
pub mod edge;
pub mod error;
pub mod fetch;
pub mod logging;
pub mod permissions;
pub mod scheduler;
pub mod secrets;
pub mod server;
pub mod sid;
pub mod states;
pub mod store;
pub mod webhook_events;
pub mod webhooks;
pub mod wire;
