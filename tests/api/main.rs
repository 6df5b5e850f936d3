//! Integration tests: the real server over HTTP, every endpoint under both prefixes, success and
//! error paths. One binary (one shared server), a module per resource, a fresh account per test.

mod common;
mod spec;

mod conversations;
mod persistence;
mod services;
mod wire;
