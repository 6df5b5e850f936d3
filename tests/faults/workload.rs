//! The writes under test: concurrent writers doing a mix of creates, messages, participants and
//! updates, each write recorded with what the server answered, until the server is killed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::api::{Answer, Api};
use crate::harness::Server;

/// The writer number of the writes the test makes itself (setup, and the checks' next-index
/// messages), always answered before anything is killed.
pub const SETUP: usize = usize::MAX;
/// Shared conversations per round, which every writer posts into.
const SHARED: usize = 3;
/// A round's kill waits until at least this many writes were answered...
pub const MIN_ANSWERED: usize = 20;
/// ...for at most this long.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub enum Op {
    CreateConversation {
        /// Its FriendlyName at creation, unique in the test.
        tag: String,
        unique_name: Option<String>,
        attributes: String,
    },
    PostMessage {
        conversation: String,
        /// Begins with a tag unique in the test.
        body: String,
    },
    AddParticipant {
        conversation: String,
        /// Unique in the test.
        identity: String,
    },
    UpdateConversation {
        conversation: String,
        friendly_name: String,
        attributes: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Answered 2xx with this SID (and, for a message, this index).
    Acked { sid: String, index: Option<u64> },
    /// Not answered (the server was killed first): it may or may not have happened.
    Unknown,
    /// Not answered, and a check found it had not happened: it must never appear.
    Absent,
    /// Answered 2xx, then not found after a power loss (allowed with `--durability process`
    /// only, and counted).
    Lost,
}

#[derive(Clone, Debug)]
pub struct Record {
    pub writer: usize,
    pub op: Op,
    pub outcome: Outcome,
}

/// One round's account and every write made in it.
#[derive(Clone)]
pub struct RoundModel {
    pub round: usize,
    pub api: Api,
    pub records: Vec<Record>,
}

impl RoundModel {
    /// The conversations every writer posts into (created by the setup).
    pub fn shared(&self) -> Vec<String> {
        self.records
            .iter()
            .filter(|r| r.writer == SETUP)
            .filter_map(|r| match (&r.op, &r.outcome) {
                (Op::CreateConversation { .. }, Outcome::Acked { sid, .. }) => Some(sid.clone()),
                _ => None,
            })
            .collect()
    }
}

/// A round's account (created by the operator) and its shared conversations.
pub async fn setup_round(operator: &Api, round: usize) -> anyhow::Result<RoundModel> {
    let api = operator.new_account(&format!("round {round}")).await?;
    let mut records = Vec::new();
    for i in 0..SHARED {
        let tag = format!("r{round}.shared{i}");
        let attributes = json!({ "shared": i }).to_string();
        let created = api
            .must_post(
                "/v1/Conversations",
                &[("FriendlyName", &tag), ("Attributes", &attributes)],
            )
            .await?;
        records.push(Record {
            writer: SETUP,
            op: Op::CreateConversation {
                tag,
                unique_name: None,
                attributes,
            },
            outcome: Outcome::Acked {
                sid: created["sid"].as_str().context("sid")?.to_string(),
                index: None,
            },
        });
    }
    Ok(RoundModel {
        round,
        api,
        records,
    })
}

/// What a round's writers did.
#[derive(Default, Debug, Clone, Copy)]
pub struct WorkloadStats {
    pub acked: usize,
    pub unknown: usize,
}

/// Runs `writers` concurrent writers against `server` and kills it (SIGKILL) `kill_after` into
/// the run; each writer stops at its first unanswered write. Every write is added to `model`.
/// A write answered with anything but 2xx fails the round: none of these writes may be refused.
pub async fn run_and_kill(
    model: &mut RoundModel,
    server: &mut Server,
    writers: usize,
    kill_after: Duration,
    rng: &mut StdRng,
) -> anyhow::Result<WorkloadStats> {
    let shared = model.shared();
    let answered = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let api = model.api.clone();
        let shared = shared.clone();
        let seed = rng.random();
        let round = model.round;
        let answered = answered.clone();
        tasks.push(tokio::spawn(async move {
            writer(api, round, w, shared, seed, &answered).await
        }));
    }
    // The kill comes `kill_after` into the run, and not before some writes were answered (a
    // loaded machine may answer none for a while; a round that proves nothing fails).
    let started = Instant::now();
    tokio::time::sleep(kill_after).await;
    while answered.load(Ordering::Relaxed) < MIN_ANSWERED && started.elapsed() < MAX_WAIT {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill9();
    let mut stats = WorkloadStats::default();
    let mut refused = Vec::new();
    for task in tasks {
        let (records, failure) = task.await?;
        for record in &records {
            match record.outcome {
                Outcome::Acked { .. } => stats.acked += 1,
                _ => stats.unknown += 1,
            }
        }
        model.records.extend(records);
        refused.extend(failure);
    }
    if !refused.is_empty() {
        bail!(
            "{} writes were refused while the server ran, e.g. {}",
            refused.len(),
            refused[0]
        );
    }
    if stats.acked == 0 {
        bail!("no write was answered before the kill ({kill_after:?}): nothing was tested");
    }
    Ok(stats)
}

/// One writer: until a write goes unanswered, picks a write, sends it and records the answer.
/// Returns its records and, if a write was refused (non-2xx), what the server said.
async fn writer(
    api: Api,
    round: usize,
    w: usize,
    shared: Vec<String>,
    seed: u64,
    answered: &AtomicUsize,
) -> (Vec<Record>, Option<String>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut records = Vec::new();
    let mut own: Vec<String> = Vec::new();
    for seq in 0.. {
        let op = next_op(&mut rng, round, w, seq, &own, &shared);
        let answer = send_op(&api, w, &op, &[]).await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(_) => {
                records.push(Record {
                    writer: w,
                    op,
                    outcome: Outcome::Unknown,
                });
                return (records, None);
            }
        };
        if !answer.ok() {
            let why = format!("{op:?}: {} {}", answer.status, answer.body);
            return (records, Some(why));
        }
        let Some(sid) = answer.body["sid"].as_str().map(str::to_string) else {
            return (records, Some(format!("{op:?}: no sid in {}", answer.body)));
        };
        if let Op::CreateConversation { .. } = op {
            own.push(sid.clone());
        }
        answered.fetch_add(1, Ordering::Relaxed);
        records.push(Record {
            writer: w,
            op,
            outcome: Outcome::Acked {
                sid,
                index: answer.body["index"].as_u64(),
            },
        });
    }
    unreachable!()
}

/// Writer `w`'s `seq`-th write: a new conversation (always its first), a message into a shared
/// conversation or one of its `own`, a participant into one of its own, or an update of one of
/// its own (each conversation is updated by the writer that created it, in order).
pub fn next_op(
    rng: &mut StdRng,
    round: usize,
    w: usize,
    seq: usize,
    own: &[String],
    shared: &[String],
) -> Op {
    let tag = format!("r{round}.w{w}.s{seq}");
    let pick = rng.random_range(0..100);
    if own.is_empty() || pick < 10 {
        Op::CreateConversation {
            unique_name: rng.random_bool(0.5).then(|| format!("u.{tag}")),
            attributes: json!({ "w": w, "s": seq }).to_string(),
            tag,
        }
    } else if pick < 50 {
        Op::PostMessage {
            conversation: shared[rng.random_range(0..shared.len())].clone(),
            body: body(&tag, rng),
        }
    } else if pick < 72 {
        Op::PostMessage {
            conversation: own[rng.random_range(0..own.len())].clone(),
            body: body(&tag, rng),
        }
    } else if pick < 85 {
        Op::AddParticipant {
            conversation: own[rng.random_range(0..own.len())].clone(),
            identity: tag,
        }
    } else {
        Op::UpdateConversation {
            conversation: own[rng.random_range(0..own.len())].clone(),
            attributes: json!({ "w": w, "s": seq, "updated": true }).to_string(),
            friendly_name: tag,
        }
    }
}

/// Sends writer `w`'s write `op` to `api`, with these extra headers; an error when no answer
/// came.
pub async fn send_op(
    api: &Api,
    w: usize,
    op: &Op,
    headers: &[(&str, &str)],
) -> reqwest::Result<Answer> {
    match op {
        Op::CreateConversation {
            tag,
            unique_name,
            attributes,
        } => {
            let mut form = vec![("FriendlyName", tag.as_str()), ("Attributes", attributes)];
            if let Some(u) = unique_name {
                form.push(("UniqueName", u));
            }
            api.post_with_headers("/v1/Conversations", &form, headers)
                .await
        }
        Op::PostMessage { conversation, body } => {
            let author = format!("w{w}");
            api.post_with_headers(
                &format!("/v1/Conversations/{conversation}/Messages"),
                &[("Author", &author), ("Body", body)],
                headers,
            )
            .await
        }
        Op::AddParticipant {
            conversation,
            identity,
        } => {
            api.post_with_headers(
                &format!("/v1/Conversations/{conversation}/Participants"),
                &[("Identity", identity), ("Attributes", r#"{"p":1}"#)],
                headers,
            )
            .await
        }
        Op::UpdateConversation {
            conversation,
            friendly_name,
            attributes,
        } => {
            api.post_with_headers(
                &format!("/v1/Conversations/{conversation}"),
                &[("FriendlyName", friendly_name), ("Attributes", attributes)],
                headers,
            )
            .await
        }
    }
}

/// A message body: the tag, then a filler of varied length (now and then near the 1,600
/// characters a body may have), so that commits span from one WAL page to several.
pub fn body(tag: &str, rng: &mut StdRng) -> String {
    let len = if rng.random_bool(0.05) {
        rng.random_range(1000..1500)
    } else {
        rng.random_range(0..300)
    };
    let filler: String = (0..len)
        .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
        .collect();
    format!("{tag} {filler}")
}

/// The tag a message body begins with.
pub fn tag_of(body: &str) -> &str {
    body.split(' ').next().unwrap_or_default()
}
