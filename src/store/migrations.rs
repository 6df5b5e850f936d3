//! Schema migrations, applied by the binary itself on start. Each entry runs once, in order,
//! inside one transaction; `PRAGMA user_version` records how many have run. Append only.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    include_str!("schema/0001_spine.sql"),
    include_str!("schema/0002_webhook_outbox.sql"),
    include_str!("schema/0003_webhook_deliveries.sql"),
    include_str!("schema/0004_lifecycle.sql"),
    include_str!("schema/0005_webhook_ordering.sql"),
];

pub fn run(conn: &mut Connection) -> rusqlite::Result<()> {
    let done: usize = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    for (number, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", number + 1)?;
        tx.commit()?;
        tracing::info!(migration = number + 1, "applied schema migration");
    }
    Ok(())
}
