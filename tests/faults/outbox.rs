//! The webhook outbox across crashes: messages posted concurrently with webhooks enabled, the
//! server killed (kill -9) at a random moment of each round and restarted. After each restart:
//! every answered message is stored as answered, and nothing else but unanswered posts; once
//! the deliveries catch up, every stored message's `onMessageAdded` has been delivered at least
//! once, every webhook was about a stored message, and each conversation's first deliveries
//! (and first attempts) came in index order.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::api::Api;
use crate::harness::{OPERATOR_SID, OPERATOR_TOKEN, Server, Store};
use crate::receiver::{Delivery, Receiver};
use crate::workload::{MAX_WAIT, MIN_ANSWERED, body, tag_of};

const CONVERSATIONS: usize = 6;
/// The share of webhook requests the receiver answers 500 (confab retries them after 1 s, 2 s...)...
const FAILING: f64 = 0.03;
/// ...at most this many per round.
const FAILURES_PER_ROUND: usize = 8;
/// How long the deliveries may take to catch up after a restart...
const SETTLE: Duration = Duration::from_secs(300);
/// ...and may stop for this long (longer than the retries' backoff after 4 failures in a row).
const STALLED: Duration = Duration::from_secs(20);

/// A message post: its conversation, body tag, and what it was answered (SID, index), if it was.
struct Post {
    conversation: String,
    tag: String,
    answered: Option<(String, u64)>,
}

async fn writer(
    api: Api,
    conversations: Vec<String>,
    round: usize,
    w: usize,
    seed: u64,
    answered_count: Arc<AtomicUsize>,
) -> anyhow::Result<Vec<Post>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut posts = Vec::new();
    for seq in 0.. {
        let tag = format!("r{round}.w{w}.s{seq}");
        let conversation = conversations[rng.random_range(0..conversations.len())].clone();
        let text = body(&tag, &mut rng);
        let answer = api
            .post_with_headers(
                &format!("/v1/Conversations/{conversation}/Messages"),
                &[("Author", &format!("w{w}")), ("Body", &text)],
                &[("X-Twilio-Webhook-Enabled", "true")],
            )
            .await;
        let answered = match answer {
            Err(_) => None,
            Ok(a) if a.status == 201 => {
                Some((a.str("sid")?, a.body["index"].as_u64().context("index")?))
            }
            Ok(a) => bail!("a message post was refused: {} {}", a.status, a.body),
        };
        let done = answered.is_none();
        if !done {
            answered_count.fetch_add(1, Ordering::Relaxed);
        }
        posts.push(Post {
            conversation,
            tag,
            answered,
        });
        if done {
            return Ok(posts);
        }
    }
    unreachable!()
}

/// What the campaign knows of the store and of the deliveries, built up round by round.
#[derive(Default)]
struct Seen {
    /// Message SID to (conversation, index), for every message stored.
    stored: HashMap<String, (String, u64)>,
    /// Body tags of the stored messages.
    tags: HashSet<String>,
    /// Messages stored per conversation.
    counts: HashMap<String, u64>,
    acked: usize,
    present_unacked: usize,
    /// Receiver requests looked at so far.
    cursor: usize,
    delivered: HashSet<String>,
    /// Per conversation, the index of the last message delivered (and tried) for the first time.
    last_first_delivered: HashMap<String, u64>,
    last_first_tried: HashMap<String, u64>,
    tried: HashSet<String>,
    requests: usize,
    duplicates: usize,
    failed: usize,
}

impl Seen {
    /// Reads the messages stored since the last look (newest first, down to the known ones):
    /// their indexes continue each conversation's densely, and the round's posts are there as
    /// answered, or (unanswered) there or not, and nothing else.
    async fn read_round(
        &mut self,
        api: &Api,
        conversations: &[String],
        posts: &[Post],
    ) -> anyhow::Result<()> {
        let mut new_tags = HashSet::new();
        for conversation in conversations {
            let known = self.counts.get(conversation).copied().unwrap_or(0);
            let mut fresh = Vec::new();
            let mut next = Some(format!(
                "/v1/Conversations/{conversation}/Messages?Order=desc&PageSize=100"
            ));
            'pages: while let Some(url) = next {
                let page = api.must_get(&url).await?;
                for m in page["messages"].as_array().context("messages")? {
                    let index = m["index"].as_u64().context("index")?;
                    if index < known {
                        break 'pages;
                    }
                    fresh.push((
                        index,
                        m["sid"].as_str().context("sid")?.to_string(),
                        tag_of(m["body"].as_str().unwrap_or_default()).to_string(),
                    ));
                }
                next = page["meta"]["next_page_url"].as_str().map(str::to_string);
            }
            fresh.reverse();
            for (n, (index, sid, tag)) in fresh.into_iter().enumerate() {
                ensure!(
                    index == known + n as u64,
                    "{conversation}: index {index} where {} was next (indexes not dense)",
                    known + n as u64
                );
                ensure!(
                    self.stored
                        .insert(sid.clone(), (conversation.clone(), index))
                        .is_none(),
                    "{conversation}: message {sid} listed twice"
                );
                ensure!(
                    self.tags.insert(tag.clone()),
                    "{conversation}: tag {tag} twice"
                );
                new_tags.insert(tag);
                self.counts.insert(conversation.clone(), index + 1);
            }
        }
        let mut accounted = 0;
        for post in posts {
            match &post.answered {
                Some((sid, index)) => {
                    self.acked += 1;
                    match self.stored.get(sid) {
                        Some((c, i)) if *c == post.conversation && i == index => {}
                        found => bail!(
                            "message {sid} ({}) answered in {} at index {index}, found {found:?}",
                            post.tag,
                            post.conversation
                        ),
                    }
                    accounted += usize::from(new_tags.contains(&post.tag));
                }
                None if new_tags.contains(&post.tag) => {
                    self.present_unacked += 1;
                    accounted += 1;
                }
                None => {}
            }
        }
        ensure!(
            accounted == new_tags.len(),
            "{} new messages stored, {accounted} of them posted this round: some nobody posted",
            new_tags.len()
        );
        Ok(())
    }

    /// Waits until every stored message was delivered (answered 2xx) at least once, checking
    /// every request that arrived meanwhile: about a stored message, with its conversation and
    /// index, each conversation's first deliveries and first attempts in index order.
    async fn settle(&mut self, receiver: &Receiver) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut progressed = Instant::now();
        loop {
            let received = receiver.received_since(self.cursor);
            if !received.is_empty() {
                progressed = Instant::now();
            }
            self.cursor += received.len();
            for d in &received {
                self.look_at(d)?;
            }
            let missing = self.stored.len() - self.delivered.len();
            if missing == 0 {
                return Ok(());
            }
            if started.elapsed() > SETTLE || progressed.elapsed() > STALLED {
                bail!(
                    "{missing} of {} stored messages were never delivered ({:?} after the restart, nothing received for {:?})",
                    self.stored.len(),
                    started.elapsed(),
                    progressed.elapsed()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn look_at(&mut self, d: &Delivery) -> anyhow::Result<()> {
        self.requests += 1;
        ensure!(
            d.param("EventType") == "onMessageAdded",
            "unexpected event {:?}",
            d.params
        );
        let sid = d.param("MessageSid");
        let Some((conversation, index)) = self.stored.get(sid) else {
            bail!("a webhook for a message that is not stored: {:?}", d.params);
        };
        ensure!(
            d.param("ConversationSid") == conversation && d.param("Index") == index.to_string(),
            "webhook {:?} for message {sid} (in {conversation} at index {index})",
            d.params
        );
        let in_order = |last: &mut HashMap<String, u64>, what: &str| {
            let previous = last.insert(conversation.clone(), *index);
            match previous {
                Some(p) if p >= *index => {
                    bail!("{conversation}: index {index} {what} first after index {p}")
                }
                _ => Ok(()),
            }
        };
        if self.tried.insert(sid.to_string()) {
            in_order(&mut self.last_first_tried, "tried")?;
        }
        if d.status != 200 {
            self.failed += 1;
        } else if self.delivered.insert(sid.to_string()) {
            in_order(&mut self.last_first_delivered, "delivered")?;
        } else {
            self.duplicates += 1;
        }
        Ok(())
    }
}

pub async fn outbox(store: &mut Store, seed: u64, rounds: usize) -> anyhow::Result<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let receiver = Receiver::start(FAILING);
    let mut server = Server::start(store, &[]).await?;
    let mut api = Api::new(&server.base, OPERATOR_SID, OPERATOR_TOKEN)
        .new_account("outbox")
        .await?;
    let services = api.must_get("/v1/Services").await?;
    let service = services["services"][0]["sid"]
        .as_str()
        .context("the default service")?
        .to_string();
    let url = format!("{}/post", receiver.base);
    api.must_post(
        &format!("/v1/Services/{service}/Configuration/Webhooks"),
        &[
            ("PostWebhookUrl", &url),
            ("Method", "POST"),
            ("Filters", "onMessageAdded"),
        ],
    )
    .await?;
    let mut conversations = Vec::new();
    for i in 0..CONVERSATIONS {
        let created = api
            .must_post(
                "/v1/Conversations",
                &[("FriendlyName", &format!("outbox {i}"))],
            )
            .await?;
        conversations.push(created["sid"].as_str().context("sid")?.to_string());
    }

    let mut seen = Seen::default();
    for round in 0..rounds {
        let what = format!("round {round}");
        receiver.allow_failures(FAILURES_PER_ROUND);
        let writers = rng.random_range(16..=32);
        let answered = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for w in 0..writers {
            tasks.push(tokio::spawn(writer(
                api.clone(),
                conversations.clone(),
                round,
                w,
                rng.random(),
                answered.clone(),
            )));
        }
        let started = Instant::now();
        tokio::time::sleep(Duration::from_millis(rng.random_range(150..1200))).await;
        while answered.load(Ordering::Relaxed) < MIN_ANSWERED && started.elapsed() < MAX_WAIT {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill9();
        let mut posts = Vec::new();
        for task in tasks {
            posts.extend(task.await??);
        }
        store
            .check_integrity()
            .with_context(|| format!("{what}: integrity after kill -9"))?;
        server = Server::start(store, &[]).await?;
        api = api.on(&server.base);
        seen.read_round(&api, &conversations, &posts)
            .await
            .with_context(|| format!("{what}: the stored messages"))?;
        seen.settle(&receiver)
            .await
            .with_context(|| format!("{what}: the deliveries"))?;
    }
    server.stop().await?;
    store
        .check_integrity()
        .context("integrity after a graceful stop")?;
    Ok(format!(
        "rounds={rounds} acked={} present_unacked={} stored={} lost=0 webhook_requests={} duplicates={} retried_after_500={} out_of_order=0",
        seen.acked,
        seen.present_unacked,
        seen.stored.len(),
        seen.requests,
        seen.duplicates,
        seen.failed
    ))
}
