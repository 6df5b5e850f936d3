//! Push credentials in PostgreSQL. The secret columns are written, never selected.

use postgres::Row;

use super::PgTx;
use super::sql::Keyset;
use crate::error::Result;
use crate::store::credentials::{CredentialRow, CredentialStore, Secrets};
use crate::wire::paging::{Page, PageRequest};

/// Every column of a credential but its secrets.
macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT id, sid, account_sid, friendly_name, type, sandbox, date_created, date_updated
             FROM credentials ",
            $rest
        )
    };
}

fn map_row(row: &Row) -> CredentialRow {
    CredentialRow {
        id: row.get(0),
        sid: row.get(1),
        account_sid: row.get(2),
        friendly_name: row.get(3),
        credential_type: row.get(4),
        sandbox: row.get::<_, i64>(5) != 0,
        date_created: row.get(6),
        date_updated: row.get(7),
    }
}

impl CredentialStore for PgTx<'_> {
    fn push_credential(&self, account_sid: &str, sid: &str) -> Result<Option<CredentialRow>> {
        let row = self.query_opt(
            select!("WHERE sid = $1 AND account_sid = $2"),
            &[&sid, &account_sid],
        )?;
        Ok(row.as_ref().map(map_row))
    }

    fn list_push_credentials(
        &self,
        account_sid: &str,
        req: &PageRequest,
    ) -> Result<Page<CredentialRow>> {
        let keyset = Keyset {
            select: select!("WHERE account_sid = $1"),
            keys: &["id"],
            descending: false,
        };
        keyset.page(self, &[&account_sid], req, map_row, |r| vec![r.id])
    }

    fn insert_push_credential(&mut self, row: &CredentialRow, secrets: &Secrets) -> Result<i64> {
        Ok(self
            .query_one(
                "INSERT INTO credentials (sid, account_sid, friendly_name, type, sandbox,
                     certificate, private_key, api_key, secret, date_created, date_updated)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 RETURNING id",
                &[
                    &row.sid,
                    &row.account_sid,
                    &row.friendly_name,
                    &row.credential_type,
                    &i64::from(row.sandbox),
                    &secrets.certificate,
                    &secrets.private_key,
                    &secrets.api_key,
                    &secrets.secret,
                    &row.date_created,
                    &row.date_updated,
                ],
            )?
            .get(0))
    }

    fn update_push_credential(&mut self, row: &CredentialRow, secrets: &Secrets) -> Result<()> {
        self.execute(
            "UPDATE credentials SET friendly_name = $1, sandbox = $2,
                 certificate = COALESCE($3, certificate), private_key = COALESCE($4, private_key),
                 api_key = COALESCE($5, api_key), secret = COALESCE($6, secret), date_updated = $7
             WHERE id = $8",
            &[
                &row.friendly_name,
                &i64::from(row.sandbox),
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
        self.execute("DELETE FROM credentials WHERE id = $1", &[&id])?;
        Ok(())
    }
}
