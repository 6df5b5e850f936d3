//! Faults a test injects into one account's requests (test mode), so that a client's retry
//! logic can be tested: a share answered 429 or 500, and latency added to every request. They
//! are kept in the store, so every node on one database injects them; a reset removes them.

use crate::error::{Code, Error, Result};
use crate::store::Store;
use crate::store::accounts::Faults;

/// The account's faults, if any.
pub async fn of(store: &Store, account_sid: String) -> Result<Option<Faults>> {
    store.read(move |tx| tx.account_faults(&account_sid)).await
}

/// Sets (or, with `None`, clears) the account's faults.
pub async fn set(store: &Store, account_sid: String, faults: Option<Faults>) -> Result<()> {
    store
        .write(move |tx| {
            if !tx.account_exists(&account_sid)? {
                return Err(Error::with(
                    Code::NotFound,
                    format!("/confab/Accounts/{account_sid}/Faults"),
                ));
            }
            tx.set_account_faults(&account_sid, faults.as_ref())
        })
        .await
}

/// What one request meets, given a uniform draw in `[0, 1)`: 429 for the first `rate_429` of
/// the range, 500 for the next `rate_5xx`, and an ordinary answer for the rest.
pub fn verdict(faults: &Faults, draw: f64) -> Option<Code> {
    if draw < faults.rate_429 {
        Some(Code::TooManyRequests)
    } else if draw < faults.rate_429 + faults.rate_5xx {
        Some(Code::Internal)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_draw_splits_into_429_then_500_then_through() {
        let faults = Faults {
            rate_429: 0.25,
            rate_5xx: 0.5,
            latency_ms: 0,
        };
        assert_eq!(verdict(&faults, 0.0), Some(Code::TooManyRequests));
        assert_eq!(verdict(&faults, 0.2499), Some(Code::TooManyRequests));
        assert_eq!(verdict(&faults, 0.25), Some(Code::Internal));
        assert_eq!(verdict(&faults, 0.7499), Some(Code::Internal));
        assert_eq!(verdict(&faults, 0.75), None);
        assert_eq!(verdict(&Faults::default(), 0.0), None);
    }
}
