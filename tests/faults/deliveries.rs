//! What a receiver's log says about confab's post-action webhooks, queue by queue (a queue is
//! one conversation's events to one URL, which confab sends one at a time and in order): were
//! two requests of a queue ever out at once, did first attempts and first deliveries of
//! `onMessageAdded` come in index order, and how often was each event (one idempotency token
//! per queued event) delivered.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::receiver::Delivery;

/// A queue: (ConversationSid, the URL's path).
pub type Queue = (String, String);

/// The queue a request belongs to.
pub fn queue_of(d: &Delivery) -> Queue {
    (d.param("ConversationSid").to_string(), d.path.clone())
}

#[derive(Default, Debug)]
pub struct Analysis {
    pub requests: usize,
    pub queues: usize,
    /// Distinct events (tokens) seen, and delivered (answered 200) at least once.
    pub events: usize,
    pub delivered: usize,
    /// 200s past an event's first.
    pub duplicates: usize,
    /// Requests answered with anything but 200 (retried by confab).
    pub failed: usize,
    /// Two requests of one queue out at the same time.
    pub overlapping: Vec<String>,
    /// A message's first attempt or first delivery after a later message's, in one queue.
    pub out_of_order: Vec<String>,
}

impl Analysis {
    /// The broken promises, if any, as one error.
    pub fn result(&self, what: &str) -> anyhow::Result<()> {
        let problems: Vec<&String> = self
            .overlapping
            .iter()
            .chain(&self.out_of_order)
            .take(20)
            .collect();
        anyhow::ensure!(
            problems.is_empty(),
            "{what}: {} requests of one queue out at once, {} out of index order:\n  {}",
            self.overlapping.len(),
            self.out_of_order.len(),
            problems
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        );
        Ok(())
    }
}

/// Looks at every request of `log`.
pub fn analyse(log: &[Delivery]) -> Analysis {
    let mut a = Analysis {
        requests: log.len(),
        ..Analysis::default()
    };
    let mut by_queue: BTreeMap<Queue, Vec<&Delivery>> = BTreeMap::new();
    for d in log {
        by_queue.entry(queue_of(d)).or_default().push(d);
    }
    a.queues = by_queue.len();
    for ((conversation, path), mut requests) in by_queue {
        requests.sort_by_key(|d| d.began);
        for pair in requests.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            if after.began < before.ended {
                a.overlapping.push(format!(
                    "{conversation} {path}: {} {} (RetryCount {}) came at {} ms, {:?} before {} {} (RetryCount {}, came at {} ms) was answered",
                    after.param("EventType"),
                    after.token,
                    after.param("RetryCount"),
                    after.arrived_unix_ms,
                    before.ended - after.began,
                    before.param("EventType"),
                    before.token,
                    before.param("RetryCount"),
                    before.arrived_unix_ms,
                ));
            }
        }
        let mut tried = HashSet::new();
        let mut last_tried: Option<u64> = None;
        let mut last_delivered: Option<u64> = None;
        for d in &requests {
            if d.param("EventType") != "onMessageAdded" {
                continue;
            }
            let Ok(index) = d.param("Index").parse::<u64>() else {
                a.out_of_order
                    .push(format!("{conversation} {path}: no Index in {:?}", d.params));
                continue;
            };
            let mut in_order = |last: &mut Option<u64>, what: &str| {
                if let Some(previous) = last.replace(index)
                    && previous >= index
                {
                    a.out_of_order.push(format!(
                        "{conversation} {path}: index {index} {what} first after index {previous}"
                    ));
                }
            };
            if tried.insert(d.token.clone()) {
                in_order(&mut last_tried, "tried");
            }
        }
        let mut delivered = HashSet::new();
        for d in &requests {
            if d.param("EventType") != "onMessageAdded" || d.status != 200 {
                continue;
            }
            let Ok(index) = d.param("Index").parse::<u64>() else {
                continue;
            };
            if delivered.insert(d.token.clone())
                && let Some(previous) = last_delivered.replace(index)
                && previous >= index
            {
                a.out_of_order.push(format!(
                    "{conversation} {path}: index {index} delivered first after index {previous}"
                ));
            }
        }
    }
    let mut per_token: HashMap<&str, usize> = HashMap::new();
    let mut seen = HashSet::new();
    for d in log {
        seen.insert(d.token.as_str());
        if d.status == 200 {
            *per_token.entry(&d.token).or_default() += 1;
        } else {
            a.failed += 1;
        }
    }
    a.events = seen.len();
    a.delivered = per_token.len();
    a.duplicates = per_token.values().map(|n| n - 1).sum();
    a
}

/// The distinct events (by token) of `log` that `pick` keeps, each with its first delivery
/// (answered 200), in the order of those.
pub fn delivered_events(log: &[Delivery], pick: impl Fn(&Delivery) -> bool) -> Vec<&Delivery> {
    let mut seen = HashSet::new();
    let mut firsts: Vec<&Delivery> = log
        .iter()
        .filter(|d| d.status == 200 && pick(d) && seen.insert(d.token.as_str()))
        .collect();
    firsts.sort_by_key(|d| d.began);
    firsts
}
