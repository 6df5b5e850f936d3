//! Push credentials in SQLite. The secret columns are written, never selected.

use std::sync::LazyLock;

use rusqlite::Row;

use super::SqliteTx;
use super::sql::Keyset;
use crate::error::Result;
use crate::store::credentials::{CredentialRow, CredentialStore, Secrets};
use crate::wire::paging::{Page, PageRequest};

const SELECT: &str =
    "SELECT id, sid, account_sid, friendly_name, type, sandbox, date_created, date_updated
    FROM credentials";

static BY_SID: LazyLock<String> =
    LazyLock::new(|| format!("{SELECT} WHERE sid = ?1 AND account_sid = ?2"));

fn map_row(row: &Row) -> rusqlite::Result<CredentialRow> {
    Ok(CredentialRow {
        id: row.get(0)?,
        sid: row.get(1)?,
        account_sid: row.get(2)?,
        friendly_name: row.get(3)?,
        credential_type: row.get(4)?,
        sandbox: row.get(5)?,
        date_created: row.get(6)?,
        date_updated: row.get(7)?,
    })
}

impl CredentialStore for SqliteTx<'_, '_> {
    fn push_credential(&self, account_sid: &str, sid: &str) -> Result<Option<CredentialRow>> {
        self.tx.optional(&BY_SID, &[&sid, &account_sid], map_row)
    }

    fn list_push_credentials(
        &self,
        account_sid: &str,
        req: &PageRequest,
    ) -> Result<Page<CredentialRow>> {
        let keyset = Keyset {
            select: &format!("{SELECT} WHERE account_sid = ?1"),
            keys: &["id"],
            descending: false,
        };
        keyset.page(self.tx, &[&account_sid], req, map_row, |r| vec![r.id])
    }

    fn insert_push_credential(&mut self, row: &CredentialRow, secrets: &Secrets) -> Result<i64> {
        self.tx.run(
            "INSERT INTO credentials (sid, account_sid, friendly_name, type, sandbox, certificate,
                 private_key, api_key, secret, date_created, date_updated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            &[
                &row.sid,
                &row.account_sid,
                &row.friendly_name,
                &row.credential_type,
                &row.sandbox,
                &secrets.certificate,
                &secrets.private_key,
                &secrets.api_key,
                &secrets.secret,
                &row.date_created,
                &row.date_updated,
            ],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    fn update_push_credential(&mut self, row: &CredentialRow, secrets: &Secrets) -> Result<()> {
        self.tx.run(
            "UPDATE credentials SET friendly_name = ?1, sandbox = ?2,
                 certificate = COALESCE(?3, certificate), private_key = COALESCE(?4, private_key),
                 api_key = COALESCE(?5, api_key), secret = COALESCE(?6, secret), date_updated = ?7
             WHERE id = ?8",
            &[
                &row.friendly_name,
                &row.sandbox,
                &secrets.certificate,
                &secrets.private_key,
                &secrets.api_key,
                &secrets.secret,
                &row.date_updated,
                &row.id,
            ],
        )?;
        Ok(())
    }

    fn delete_push_credential(&mut self, id: i64) -> Result<()> {
        self.tx
            .run("DELETE FROM credentials WHERE id = ?1", &[&id])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The secrets are never read back through the boundary, so what was stored is read here,
    //! as SQL.

    use super::*;
    use crate::clock::Clock;
    use crate::domain::credentials::{self, CredentialUpdate, NewCredential};
    use crate::store::{Engine, Location, ServiceRef, Store, Tenant};

    type StoredSecrets = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );

    async fn stored_secrets(store: &Store, sid: String) -> StoredSecrets {
        let Engine::Sqlite(engine) = &store.engine else {
            unreachable!("an in-memory store is SQLite");
        };
        engine
            .write(move |tx| {
                Ok(tx.tx.query_row(
                    "SELECT certificate, private_key, api_key, secret FROM credentials
                     WHERE sid = ?1",
                    [sid],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )?)
            })
            .await
            .unwrap()
    }

    fn secret(value: &str) -> Option<String> {
        Some(value.to_string())
    }

    #[tokio::test]
    async fn an_update_replaces_the_secrets_it_sends_and_keeps_the_others() {
        let store = Store::open(
            &Location::SqliteMemory,
            &Default::default(),
            Clock::default(),
        )
        .await
        .unwrap();
        let account = crate::domain::accounts::create(&store, "unit".into())
            .await
            .unwrap();
        let tenant = Tenant {
            account_sid: account.account_sid,
            service: ServiceRef::Default,
            webhooks: false,
        };
        let new = NewCredential {
            credential_type: "apn".into(),
            friendly_name: None,
            sandbox: None,
            secrets: Secrets {
                certificate: secret("cert"),
                private_key: secret("key"),
                ..Secrets::default()
            },
        };
        let row = credentials::create(&store, tenant.clone(), new)
            .await
            .unwrap();
        let change = CredentialUpdate {
            secrets: Secrets {
                private_key: secret("new key"),
                ..Secrets::default()
            },
            ..CredentialUpdate::default()
        };
        credentials::update(&store, tenant, row.sid.clone(), change)
            .await
            .unwrap();
        assert_eq!(
            stored_secrets(&store, row.sid).await,
            (secret("cert"), secret("new key"), None, None)
        );
    }
}
