//! Schema migrations, applied by the binary itself on start through `rusqlite_migration`:
//! each entry runs once, in order, and `PRAGMA user_version` records how many have run. Append
//! only. A store migrated further than this list (written by a newer confab) is refused before
//! anything changes (docs/design.md, "Opening a SQLite store").

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("schema/0001_spine.sql")),
    M::up(include_str!("schema/0002_webhook_outbox.sql")),
    M::up(include_str!("schema/0003_webhook_deliveries.sql")),
    M::up(include_str!("schema/0004_lifecycle.sql")),
    M::up(include_str!("schema/0005_webhook_ordering.sql")),
    M::up(include_str!("schema/0006_message_receipt_count.sql")),
    M::up(include_str!("schema/0007_webhook_queues.sql")),
    M::up(include_str!("schema/0008_clock.sql")),
    M::up(include_str!("schema/0009_participant_routing.sql")),
    M::up(include_str!("schema/0010_api_key_hashes.sql")),
    M::up(include_str!("schema/0011_inbound.sql")),
    M::up(include_str!("schema/0012_stream_events.sql")),
    M::up(include_str!("schema/0013_account_faults.sql")),
    M::up(include_str!("schema/0014_application_id.sql")),
    M::up(include_str!("schema/0015_delivery_log_requests.sql")),
];

/// The schema version this confab writes: the number of migrations it knows.
pub const LATEST: usize = MIGRATIONS.len();

/// Brings the store to [`LATEST`], all pending migrations in one transaction (the crate logs
/// the version it reached).
pub fn run(conn: &mut Connection) -> anyhow::Result<()> {
    Migrations::from_slice(MIGRATIONS).to_latest(conn)?;
    Ok(())
}

/// Migrates `conn` to `version` exactly: an in-memory model of a store at that version (the
/// tables a confab store of that version has), and older stores for tests.
pub fn run_to(conn: &mut Connection, version: usize) -> anyhow::Result<()> {
    Migrations::from_slice(MIGRATIONS).to_version(conn, version)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store made before 0006 keeps its messages' delivery summaries: each message's receipt
    /// count is filled in from the receipts it already holds.
    #[test]
    fn receipt_counts_are_filled_in_for_existing_messages() {
        let mut conn = Connection::open_in_memory().unwrap();
        run_to(&mut conn, 5).unwrap();
        // The rows these messages would hang from do not matter here.
        conn.pragma_update(None, "foreign_keys", false).unwrap();
        conn.execute_batch(
            "INSERT INTO messages (id, sid, conversation_id, idx, attributes, date_created, date_updated)
                 VALUES (1, 'IM1', 1, 0, '{}', 0, 0), (2, 'IM2', 1, 1, '{}', 0, 0);
             INSERT INTO receipts (sid, message_id, date_created)
                 VALUES ('DY1', 2, 0), ('DY2', 2, 0), ('DY3', 2, 0);",
        )
        .unwrap();
        run(&mut conn).unwrap();
        let counts: Vec<(i64, i64)> = conn
            .prepare("SELECT id, receipts FROM messages ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(counts, [(1, 0), (2, 3)]);
    }

    /// A store made before 0009 keeps its pairs held: a participant with an address and a
    /// proxy address in a conversation that is not closed holds its pair for its account; one
    /// in a closed conversation, a group member and a chat participant hold none.
    #[test]
    fn pairs_of_open_conversations_are_held_by_existing_participants() {
        let mut conn = Connection::open_in_memory().unwrap();
        run_to(&mut conn, 8).unwrap();
        // The accounts these services would hang from do not matter here.
        conn.pragma_update(None, "foreign_keys", false).unwrap();
        conn.execute_batch(
            "INSERT INTO services (id, sid, account_sid, friendly_name, date_created, date_updated)
                 VALUES (1, 'IS1', 'AC1', 'default', 0, 0);
             INSERT INTO conversations (id, sid, service_id, attributes, state, date_created, date_updated)
                 VALUES (1, 'CH1', 1, '{}', 'active', 0, 0), (2, 'CH2', 1, '{}', 'inactive', 0, 0),
                        (3, 'CH3', 1, '{}', 'closed', 0, 0);
             INSERT INTO participants (id, sid, conversation_id, service_id, identity, attributes,
                     binding_type, binding_address, binding_proxy_address, date_created, date_updated)
                 VALUES (1, 'MB1', 1, 1, NULL, '{}', 'sms', '+1555', '+1999', 0, 0),
                        (2, 'MB2', 2, 1, NULL, '{}', 'sms', '+1556', '+1999', 0, 0),
                        (3, 'MB3', 3, 1, NULL, '{}', 'sms', '+1555', '+1999', 0, 0),
                        (4, 'MB4', 1, 1, NULL, '{}', 'sms', '+1557', NULL, 0, 0),
                        (5, 'MB5', 1, 1, 'alice', '{}', NULL, NULL, NULL, 0, 0);",
        )
        .unwrap();
        run(&mut conn).unwrap();
        let held: Vec<(i64, Option<String>)> = conn
            .prepare("SELECT id, routing_account_sid FROM participants ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let ac1 = || Some("AC1".to_string());
        assert_eq!(
            held,
            [(1, ac1()), (2, ac1()), (3, None), (4, None), (5, None)]
        );
    }
}

#[cfg(test)]
mod list_tests {
    use super::*;

    /// `rusqlite_migration` checks what it can of the list itself (each entry's SQL parses).
    #[test]
    fn the_migrations_are_valid() {
        Migrations::from_slice(MIGRATIONS).validate().unwrap();
    }
}
