//! The rules of Twilio Conversations, engine-neutral: what creating, changing and deleting each
//! resource means, which events fire, what a message does to its conversation. Every function
//! here runs inside a store job (`store.write(|tx| ...)`, `store.read(|tx| ...)`) and talks to
//! the engine only through [`Tx`](crate::store::Tx); none knows SQL.
//!
//! Handlers call the `async fn`s, which open the job; the plain `fn`s run inside a job that the
//! caller already holds, so that several rules can share one transaction.

pub mod accounts;
pub mod addresses;
pub mod bindings;
pub mod clock;
pub mod configuration;
pub mod conversation_webhooks;
pub mod conversations;
pub mod credentials;
pub mod deliveries;
pub mod events;
pub mod inbound;
pub mod lifecycle;
pub mod media;
pub mod messages;
pub mod outbound;
pub mod participants;
pub mod receipts;
pub mod roles;
pub mod service_configuration;
pub mod services;
pub mod stream;
pub mod users;
pub mod webhook_params;
