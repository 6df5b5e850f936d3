//! Schema migrations on PostgreSQL, applied by the node that starts. Several nodes may start
//! together: an advisory lock lets one migrate while the others wait, and then find nothing
//! left to do. A node that finds a schema newer than it knows refuses to start: it would
//! misread what a newer confab wrote.

use postgres::Client;

/// Append only: each entry runs once, in order, in one transaction with its version.
const MIGRATIONS: &[&str] = &[
    include_str!("schema/0001_initial.sql"),
    include_str!("schema/0002_participant_routing.sql"),
    include_str!("schema/0003_api_key_hashes.sql"),
    include_str!("schema/0004_inbound.sql"),
    include_str!("schema/0005_stream_events.sql"),
    include_str!("schema/0006_account_order_and_faults.sql"),
    include_str!("schema/0007_delivery_log_requests.sql"),
];

/// The advisory lock's key: "confab" in ASCII, so that no other application's lock is ours.
const LOCK_KEY: i64 = 0x636f_6e66_6162;

/// The lock comes first: even `CREATE TABLE IF NOT EXISTS` fails in one of two sessions that
/// run it at once on a database without the table (both add the table's type to the catalog;
/// one gets a unique violation on `pg_type_typname_nsp_index`).
pub fn run(client: &mut Client) -> anyhow::Result<()> {
    client.execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])?;
    let migrated = apply(client);
    client.execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])?;
    migrated
}

fn apply(client: &mut Client) -> anyhow::Result<()> {
    client.batch_execute(
        "CREATE TABLE IF NOT EXISTS confab_schema (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )?;
    let row = client.query_one("SELECT coalesce(max(version), 0) FROM confab_schema", &[])?;
    let done: i64 = row.get(0);
    let known = MIGRATIONS.len() as i64;
    if done > known {
        anyhow::bail!(
            "the PostgreSQL store has schema version {done}, newer than this confab's {known}: \
             run a newer confab, or another database"
        );
    }
    for (number, sql) in MIGRATIONS.iter().enumerate().skip(done as usize) {
        let version = number as i64 + 1;
        let mut tx = client.transaction()?;
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO confab_schema (version) VALUES ($1)",
            &[&version],
        )?;
        tx.commit()?;
        tracing::info!(migration = version, "applied PostgreSQL schema migration");
    }
    Ok(())
}
