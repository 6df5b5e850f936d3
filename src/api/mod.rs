//! The HTTP API: one module per Twilio resource (named after it), each with handlers named
//! after Twilio's verbs (`create`, `list`, `fetch`, `update`, `delete`) and the one `render`
//! that owns the resource's wire shape. Handlers validate, call the store, render.

pub mod account_webhooks;
pub mod addresses;
pub mod bindings;
pub mod confab;
pub mod configuration;
pub mod console;
pub mod conversation_webhooks;
pub mod conversation_with_participants;
pub mod conversations;
pub mod credentials;
pub mod error;
pub mod events;
pub mod faults;
pub mod fixtures;
pub mod inbound;
pub mod media;
pub mod messages;
pub mod notifications;
pub mod outbound;
pub mod participant_conversations;
pub mod participants;
pub mod push_registrations;
pub mod receipts;
pub mod roles;
pub mod routes;
pub mod scope;
pub mod service_configuration;
pub mod service_webhooks;
pub mod services;
pub mod user_conversations;
pub mod users;
