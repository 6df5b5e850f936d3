//! Accounts, API keys and the account-level configuration in PostgreSQL.

use postgres::Row;

use super::PgTx;
use super::sql::Keyset;
use crate::error::Result;
use crate::secrets::Secret;
use crate::store::accounts::{AccountConfiguration, AccountRow, AccountStore, Credential, Faults};
use crate::wire::paging::{Page, PageRequest};

/// A row of username, plain secret, salt, hash and account: an account's token is plain, an
/// API key's hashed.
fn credential(r: &Row) -> Credential {
    let secret = match r.get::<_, Option<String>>(3) {
        Some(hash) => Secret::Hashed {
            salt: r.get(2),
            hash,
        },
        None => Secret::Plain(r.get(1)),
    };
    Credential {
        username: r.get(0),
        secret,
        account_sid: r.get(4),
    }
}

/// The salt and hash columns of a hashed secret.
fn salt_and_hash(secret: &Secret) -> (Option<&str>, Option<&str>) {
    match secret {
        Secret::Hashed { salt, hash } => (Some(salt), Some(hash)),
        Secret::Plain(_) => (None, None),
    }
}

/// The first key of the advisory locks on account SIDs ("conf" in ASCII); the second is the
/// SID's hash.
const ACCOUNT_LOCK: i32 = 0x636f_6e66;

impl AccountStore for PgTx<'_> {
    /// In a write job, the answer holds until the job ends: the SID is locked first (an
    /// advisory lock for the transaction), so that a job that found no account may add it
    /// while no other does. Several nodes that start together on one database each make sure
    /// of the operator account; without the lock, all but one failed to start with a unique
    /// violation.
    fn account_exists(&self, sid: &str) -> Result<bool> {
        self.query_one(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&ACCOUNT_LOCK, &sid],
        )?;
        Ok(self
            .query_opt("SELECT 1 FROM accounts WHERE sid = $1", &[&sid])?
            .is_some())
    }

    fn insert_account(&mut self, sid: &str, auth_token: &str, friendly_name: &str) -> Result<()> {
        self.execute(
            "INSERT INTO accounts (sid, auth_token, friendly_name, date_created) VALUES ($1, $2, $3, $4)",
            &[&sid, &auth_token, &friendly_name, &self.now],
        )?;
        self.execute(
            "INSERT INTO account_webhooks (account_sid) VALUES ($1)",
            &[&sid],
        )?;
        Ok(())
    }

    fn insert_account_configuration(
        &mut self,
        sid: &str,
        configuration: &AccountConfiguration,
    ) -> Result<()> {
        self.execute(
            "INSERT INTO account_configurations (account_sid, default_chat_service_sid,
                 default_messaging_service_sid, default_inactive_timer, default_closed_timer)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &sid,
                &configuration.default_chat_service_sid,
                &configuration.default_messaging_service_sid,
                &configuration.default_inactive_timer,
                &configuration.default_closed_timer,
            ],
        )?;
        Ok(())
    }

    fn set_auth_token(&mut self, sid: &str, auth_token: &str) -> Result<()> {
        self.execute(
            "UPDATE accounts SET auth_token = $1 WHERE sid = $2",
            &[&auth_token, &sid],
        )?;
        Ok(())
    }

    fn insert_api_key(
        &mut self,
        sid: &str,
        account_sid: &str,
        secret: &Secret,
        friendly_name: &str,
    ) -> Result<()> {
        let (salt, hash) = salt_and_hash(secret);
        self.execute(
            "INSERT INTO api_keys (sid, account_sid, salt, secret_hash, friendly_name, date_created)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&sid, &account_sid, &salt, &hash, &friendly_name, &self.now],
        )?;
        Ok(())
    }

    fn plain_api_keys(&self) -> Result<Vec<(String, String)>> {
        let rows = self.query(
            "SELECT sid, secret FROM api_keys WHERE secret_hash IS NULL AND secret IS NOT NULL",
            &[],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn hash_api_key(&mut self, sid: &str, secret: &Secret) -> Result<()> {
        let (salt, hash) = salt_and_hash(secret);
        self.execute(
            "UPDATE api_keys SET salt = $2, secret_hash = $3, secret = NULL WHERE sid = $1",
            &[&sid, &salt, &hash],
        )?;
        Ok(())
    }

    fn credentials(&self) -> Result<Vec<Credential>> {
        let rows = self.query(
            "SELECT sid, auth_token, NULL::text, NULL::text, sid FROM accounts
             UNION ALL SELECT sid, secret, salt, secret_hash, account_sid FROM api_keys",
            &[],
        )?;
        Ok(rows.iter().map(credential).collect())
    }

    fn credential(&self, username: &str) -> Result<Option<Credential>> {
        let row = self.query_opt(
            "SELECT sid, auth_token, NULL::text, NULL::text, sid FROM accounts WHERE sid = $1
             UNION ALL SELECT sid, secret, salt, secret_hash, account_sid FROM api_keys WHERE sid = $1",
            &[&username],
        )?;
        Ok(row.as_ref().map(credential))
    }

    fn auth_token(&self, account_sid: &str) -> Result<Option<String>> {
        let row = self.query_opt(
            "SELECT auth_token FROM accounts WHERE sid = $1",
            &[&account_sid],
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    fn account_configuration(&self, account_sid: &str) -> Result<Option<AccountConfiguration>> {
        let row = self.query_opt(
            "SELECT default_chat_service_sid, default_messaging_service_sid, default_inactive_timer,
                 default_closed_timer
             FROM account_configurations WHERE account_sid = $1",
            &[&account_sid],
        )?;
        Ok(row.map(|r| AccountConfiguration {
            default_chat_service_sid: r.get(0),
            default_messaging_service_sid: r.get(1),
            default_inactive_timer: r.get(2),
            default_closed_timer: r.get(3),
        }))
    }

    /// Accounts are keyed by SID; `id` (schema 0006) is the list's order.
    fn list_accounts(&self, req: &PageRequest) -> Result<Page<AccountRow>> {
        let keyset = Keyset {
            select: "SELECT id, sid, friendly_name, date_created FROM accounts WHERE TRUE",
            keys: &["id"],
            descending: false,
        };
        keyset.page(
            self,
            &[],
            req,
            |r| AccountRow {
                key: r.get(0),
                account_sid: r.get(1),
                friendly_name: r.get(2),
                date_created: r.get(3),
            },
            |a| vec![a.key],
        )
    }

    /// Deleting the services cascades to everything kept per service.
    fn clear_account(&mut self, account_sid: &str) -> Result<()> {
        for sql in [
            "DELETE FROM services WHERE account_sid = $1",
            "DELETE FROM address_configurations WHERE account_sid = $1",
            "DELETE FROM credentials WHERE account_sid = $1",
            "DELETE FROM account_configurations WHERE account_sid = $1",
            "DELETE FROM webhook_outbox WHERE account_sid = $1",
            "DELETE FROM webhook_queues WHERE account_sid = $1",
            "DELETE FROM webhook_deliveries WHERE account_sid = $1",
            "DELETE FROM account_faults WHERE account_sid = $1",
            "DELETE FROM inbound_messages WHERE account_sid = $1",
            "DELETE FROM stream_events WHERE account_sid = $1",
            "UPDATE account_webhooks SET pre_webhook_url = NULL, post_webhook_url = NULL,
                 method = NULL, filters = NULL, target = NULL
             WHERE account_sid = $1",
        ] {
            self.execute(sql, &[&account_sid])?;
        }
        Ok(())
    }

    fn account_faults(&self, account_sid: &str) -> Result<Option<Faults>> {
        Ok(self
            .query_opt(
                "SELECT rate_429, rate_5xx, latency_ms FROM account_faults WHERE account_sid = $1",
                &[&account_sid],
            )?
            .map(|r| Faults {
                rate_429: r.get(0),
                rate_5xx: r.get(1),
                latency_ms: r.get(2),
            }))
    }

    fn set_account_faults(&mut self, account_sid: &str, faults: Option<&Faults>) -> Result<()> {
        match faults {
            Some(f) => self.execute(
                "INSERT INTO account_faults (account_sid, rate_429, rate_5xx, latency_ms)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (account_sid) DO UPDATE SET rate_429 = excluded.rate_429,
                     rate_5xx = excluded.rate_5xx, latency_ms = excluded.latency_ms",
                &[&account_sid, &f.rate_429, &f.rate_5xx, &f.latency_ms],
            )?,
            None => self.execute(
                "DELETE FROM account_faults WHERE account_sid = $1",
                &[&account_sid],
            )?,
        };
        Ok(())
    }

    /// Every node hears of it when the job commits: the credentials they keep may open it.
    fn delete_account(&mut self, account_sid: &str) -> Result<bool> {
        self.clear_account(account_sid)?;
        let deleted = self.execute("DELETE FROM accounts WHERE sid = $1", &[&account_sid])? > 0;
        if deleted {
            self.notify_on_commit(super::WAKE_ACCOUNTS)?;
        }
        Ok(deleted)
    }
}
