//! Integration tests: the real server over HTTP, every endpoint under both prefixes, success and
//! error paths. One binary (one shared server), a module per resource, a fresh account per test.

mod common;
mod fixture;
mod receiver;
mod spec;
mod startup;

mod accounts;
mod addresses;
mod bindings;
mod cache;
mod configuration;
mod console;
mod conversation_webhooks;
mod conversation_with_participants;
mod conversations;
mod credentials;
mod events;
mod faults;
mod inbound;
mod inspection;
mod lifecycle;
mod lists;
mod messages;
mod metrics;
mod participant_conversations;
mod participants;
mod persistence;
mod receipts;
mod roles;
mod seed;
mod service_configuration;
mod services;
mod tenancy;
mod user_conversations;
mod users;
mod webhooks;
mod wire;
