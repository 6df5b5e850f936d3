//! The scheduler: fires conversation timers and moves delivery receipts on time (within a
//! second), by the server's clock. Due times live in the store, so a timer that fell due while
//! the server was down fires at start; it sleeps until the next due time (at most a second, so a
//! moved test clock is noticed), or until the clock is moved.

use std::time::Duration;

use crate::domain::lifecycle;
use crate::store::Store;

pub fn spawn(store: Store) {
    tokio::spawn(run(store));
}

async fn run(store: Store) {
    loop {
        let now = store.clock.now_secs();
        let sleep = match lifecycle::next_due(&store, i64::MIN).await {
            Ok(Some(at)) if at <= now => {
                if let Err(e) = lifecycle::run_due(&store).await {
                    tracing::error!(error = %e, "the scheduler could not run due work");
                    Duration::from_secs(1)
                } else {
                    continue;
                }
            }
            Ok(Some(at)) => Duration::from_secs((at - now) as u64).min(Duration::from_secs(1)),
            Ok(None) => Duration::from_secs(1),
            Err(e) => {
                tracing::error!(error = %e, "the scheduler could not read due times");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = store.wake.scheduler.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}
