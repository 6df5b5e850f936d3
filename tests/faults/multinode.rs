//! Several confab nodes on one PostgreSQL database (docs/deploy.md, "One database, several
//! nodes"), behind HAProxy run with `deploy/haproxy.cfg` itself; some checks also go to a node
//! directly. A client must not be able to tell how many nodes there are:
//!
//! - [`agree`]: a write answered by one node is read by the very next request on the other,
//!   for every kind of write, from many clients at once; message indexes stay unique and dense
//!   under concurrent posts through both nodes (gaps only where a message was deleted); unique
//!   names, identities and bindings hold when both nodes are asked at once (one wins, the
//!   others get Twilio's error); accounts and API keys made on one node work on both at once.
//! - [`clock`]: the test clock moved through one node has moved on both, read right after.
//! - [`events`]: post-action webhooks go out at least once, one request of a queue at a time
//!   (whichever node sends it) and in index order; timers and delivery receipts fire once.
//! - [`node_dies`]: kill -9 of one node under writes spread over both and the balancer: the
//!   other keeps answering (HAProxy takes the dead one out), every answered write is there,
//!   and the dead node's claimed webhook deliveries are sent by the other once their lease
//!   (`--webhook-lease`) runs out; timers it may have been firing fire once.
//! - [`stream`]: the event stream (`GET /confab/Events`) open on one node carries the events
//!   made through the other, and a reconnect to the other node with `Last-Event-ID` loses
//!   nothing and repeats nothing.
//! - [`migrations`]: three nodes started at once on an empty database migrate it once; a node
//!   that finds a newer schema refuses to start and names both versions.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::api::{Answer, Api};
use crate::check::{self, Loss};
use crate::deliveries::{self, queue_of};
use crate::harness::{Balancer, OPERATOR_SID, OPERATOR_TOKEN, Server, Store, pg_execute, pg_rows};
use crate::receiver::{Delivery, Receiver};
use crate::workload::{self, MAX_WAIT, MIN_ANSWERED, Op, Outcome, Record};

/// What every node is started with: the test clock, and a pool small enough that the tests
/// running at once stay within the server's `max_connections`.
const NODE_ARGS: &[&str] = &["--test-mode", "--pool-size", "8"];
/// Twilio's error codes the races must answer with.
const UNIQUE_NAME_TAKEN: i64 = 50353;
const USER_EXISTS: i64 = 50201;
const PARTICIPANT_EXISTS: i64 = 50433;
const BINDING_TAKEN: i64 = 50416;
/// Clients that ask for one unique key at once.
const RACERS: usize = 6;
const WEBHOOKS: (&str, &str) = ("X-Twilio-Webhook-Enabled", "true");

/// Two nodes on the store's database, started together, and HAProxy in front of them.
struct Cluster {
    nodes: Vec<Server>,
    balancer: Balancer,
}

/// Where a request goes: a node directly, or the balancer.
#[derive(Clone)]
struct Target {
    name: &'static str,
    api: Api,
    /// The node it is, if it is one.
    node: Option<usize>,
}

impl Cluster {
    async fn start(store: &mut Store, extra: &[&str]) -> anyhow::Result<Cluster> {
        let args: Vec<&str> = NODE_ARGS.iter().chain(extra).copied().collect();
        let nodes = start_nodes(store, 2, &args, &[]).await?;
        let balancer = Balancer::start(store, [&nodes[0], &nodes[1]])
            .await
            .context("HAProxy with deploy/haproxy.cfg")?;
        Ok(Cluster { nodes, balancer })
    }

    /// `account` on node 1, node 2 and the balancer.
    fn targets(&self, account: &Api) -> Vec<Target> {
        vec![
            Target {
                name: "node1",
                api: account.on(&self.nodes[0].base),
                node: Some(0),
            },
            Target {
                name: "node2",
                api: account.on(&self.nodes[1].base),
                node: Some(1),
            },
            Target {
                name: "haproxy",
                api: account.on(&self.balancer.base),
                node: None,
            },
        ]
    }
}

/// `n` nodes started at once, then waited for.
async fn start_nodes(
    store: &mut Store,
    n: usize,
    args: &[&str],
    env: &[(&str, String)],
) -> anyhow::Result<Vec<Server>> {
    let mut starting = Vec::new();
    for _ in 0..n {
        starting.push(Server::launch(store, args, env)?);
    }
    let mut nodes = Vec::new();
    for (i, s) in starting.into_iter().enumerate() {
        nodes.push(s.ready().await.with_context(|| format!("node {}", i + 1))?);
    }
    Ok(nodes)
}

/// The nodes a write through `targets[w]` must be read on: the other node, or both after the
/// balancer (which does not say which node answered).
fn readers(targets: &[Target], w: usize) -> Vec<&Target> {
    match targets[w].node {
        Some(n) => vec![&targets[1 - n]],
        None => vec![&targets[0], &targets[1]],
    }
}

fn code(answer: &Answer) -> Option<i64> {
    answer.body["code"].as_i64()
}

/// An answer that must be `status`.
fn expect(answer: Answer, status: u16, what: &str) -> anyhow::Result<Value> {
    ensure!(
        answer.status == status,
        "{what}: answered {} {}, expected {status}",
        answer.status,
        answer.body
    );
    Ok(answer.body)
}

fn attributes(v: &Value) -> Value {
    v.as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null)
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

// ---------------------------------------------------------------------------------------------
// agree

/// Rounds of: a new account; read-your-writes across nodes; indexes across nodes; races for
/// unique keys; accounts and keys across nodes.
pub async fn agree(store: &mut Store, seed: u64, rounds: usize) -> anyhow::Result<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let cluster = Cluster::start(store, &[]).await?;
    let operator = Api::new(&cluster.balancer.base, OPERATOR_SID, OPERATOR_TOKEN);
    let (mut writes, mut reads, mut posts, mut deleted, mut contests, mut accounts) =
        (0, 0, 0, 0, 0, 0);
    for round in 0..rounds {
        let account = operator.new_account(&format!("agree {round}")).await?;
        let targets = cluster.targets(&account);
        let (w, r) = read_your_writes(&targets, &mut rng)
            .await
            .with_context(|| format!("round {round}: read-your-writes across nodes"))?;
        let (p, d) = dense_indexes(&targets, &mut rng)
            .await
            .with_context(|| format!("round {round}: message indexes across nodes"))?;
        contests += races(&targets, round)
            .await
            .with_context(|| format!("round {round}: unique keys across nodes"))?;
        accounts += accounts_everywhere(&cluster, round)
            .await
            .with_context(|| format!("round {round}: accounts and keys across nodes"))?;
        (writes, reads, posts, deleted) = (writes + w, reads + r, posts + p, deleted + d);
    }
    Ok(format!(
        "nodes=2 behind haproxy, rounds={rounds}; read-your-writes: writes={writes} reads_on_the_other_node={reads} stale=0; indexes: posts={posts} deleted={deleted} duplicates=0 gaps=0 (but the deleted); races: {contests} contests of {RACERS} at once (unique name, user identity, participant identity, binding), one winner each, the rest 409 {UNIQUE_NAME_TAKEN}/{USER_EXISTS}/{PARTICIPANT_EXISTS}/{BINDING_TAKEN}; accounts: {accounts} made on one node, used at once on the other and haproxy, with a key made on the other; wrong secrets 401; deleted through the other, refused on every node"
    ))
}

/// The test clock, moved through one node, has moved on every node.
pub async fn clock(store: &mut Store, _seed: u64, rounds: usize) -> anyhow::Result<String> {
    let cluster = Cluster::start(store, &[]).await?;
    let clock = clock_everywhere(&cluster, rounds).await?;
    Ok(format!("nodes=2 behind haproxy; {clock}"))
}

/// One client's own conversation, as it last wrote it.
struct Mine {
    sid: String,
    unique_name: Option<String>,
    friendly_name: String,
    attributes: String,
    messages: Vec<String>,
    participants: Vec<String>,
}

/// Concurrent clients, each writing through a node or the balancer and reading the write back
/// at once on the other node (both, after the balancer).
async fn read_your_writes(targets: &[Target], rng: &mut StdRng) -> anyhow::Result<(usize, usize)> {
    const CLIENTS: usize = 12;
    const OPS: usize = 12;
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let targets = targets.to_vec();
        let seed: u64 = rng.random();
        tasks.push(tokio::spawn(async move {
            ryw_client(targets, client, OPS, seed).await
        }));
    }
    let (mut writes, mut reads) = (0, 0);
    let mut stale = Vec::new();
    for task in tasks {
        let (w, r, s) = task.await??;
        writes += w;
        reads += r;
        stale.extend(s);
    }
    ensure!(
        stale.is_empty(),
        "{} of {reads} reads on the other node missed the write just answered, e.g.:\n  {}",
        stale.len(),
        stale
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  ")
    );
    Ok((writes, reads))
}

/// One client: returns its writes, reads, and the stale reads it found.
async fn ryw_client(
    targets: Vec<Target>,
    client: usize,
    ops: usize,
    seed: u64,
) -> anyhow::Result<(usize, usize, Vec<String>)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut mine: Vec<Mine> = Vec::new();
    let (mut writes, mut reads) = (0, 0);
    let mut stale = Vec::new();
    for seq in 0..ops {
        let tag = format!("c{client}.s{seq}");
        let w = rng.random_range(0..targets.len());
        let via = &targets[w];
        let pick = rng.random_range(0..100);
        let c = if mine.is_empty() {
            0
        } else {
            rng.random_range(0..mine.len())
        };
        writes += 1;
        if mine.is_empty() || pick < 15 {
            let unique_name = rng.random_bool(0.5).then(|| format!("u.{tag}"));
            let attributes = json!({ "client": client, "seq": seq }).to_string();
            let mut form = vec![("FriendlyName", tag.as_str()), ("Attributes", &attributes)];
            if let Some(u) = &unique_name {
                form.push(("UniqueName", u));
            }
            let created = expect(
                via.api.post("/v1/Conversations", &form).await?,
                201,
                "create",
            )?;
            let sid = created["sid"].as_str().context("sid")?.to_string();
            mine.push(Mine {
                sid,
                unique_name,
                friendly_name: tag.clone(),
                attributes,
                messages: Vec::new(),
                participants: Vec::new(),
            });
            let m = mine.last().unwrap();
            for r in readers(&targets, w) {
                reads += 1;
                let got = r.api.get(&format!("/v1/Conversations/{}", m.sid)).await?;
                if got.status != 200
                    || got.body["friendly_name"] != m.friendly_name.as_str()
                    || attributes_of(&got) != attributes_json(&m.attributes)
                {
                    stale.push(format!(
                        "{} created {} ({tag}); {} answered {} {}",
                        via.name, m.sid, r.name, got.status, got.body
                    ));
                }
                if let Some(u) = &m.unique_name {
                    reads += 1;
                    let got = r.api.get(&format!("/v1/Conversations/{u}")).await?;
                    if got.status != 200 || got.body["sid"] != m.sid.as_str() {
                        stale.push(format!(
                            "{} created {} as {u}; {} answered {} {}",
                            via.name, m.sid, r.name, got.status, got.body
                        ));
                    }
                }
            }
        } else if pick < 35 {
            let m = &mut mine[c];
            m.friendly_name = tag.clone();
            m.attributes = json!({ "client": client, "seq": seq, "updated": true }).to_string();
            expect(
                via.api
                    .post(
                        &format!("/v1/Conversations/{}", m.sid),
                        &[
                            ("FriendlyName", &m.friendly_name),
                            ("Attributes", &m.attributes),
                        ],
                    )
                    .await?,
                200,
                "update",
            )?;
            for r in readers(&targets, w) {
                reads += 1;
                let got = r.api.get(&format!("/v1/Conversations/{}", m.sid)).await?;
                if got.status != 200
                    || got.body["friendly_name"] != m.friendly_name.as_str()
                    || attributes_of(&got) != attributes_json(&m.attributes)
                {
                    stale.push(format!(
                        "{} updated {} to {tag}; {} answered {} {}",
                        via.name, m.sid, r.name, got.status, got.body
                    ));
                }
            }
        } else if pick < 70 {
            let m = &mut mine[c];
            let posted = expect(
                via.api
                    .post(
                        &format!("/v1/Conversations/{}/Messages", m.sid),
                        &[("Author", &format!("c{client}")), ("Body", &tag)],
                    )
                    .await?,
                201,
                "post",
            )?;
            let sid = posted["sid"].as_str().context("sid")?.to_string();
            let index = posted["index"].as_u64().context("index")?;
            m.messages.push(sid.clone());
            for r in readers(&targets, w) {
                reads += 2;
                let got = r
                    .api
                    .get(&format!("/v1/Conversations/{}/Messages/{sid}", m.sid))
                    .await?;
                if got.status != 200 || got.body["index"] != index || got.body["body"] != tag {
                    stale.push(format!(
                        "{} posted {sid} at {index}; {} answered {} {}",
                        via.name, r.name, got.status, got.body
                    ));
                }
                let newest = r
                    .api
                    .get(&format!(
                        "/v1/Conversations/{}/Messages?Order=desc&PageSize=1",
                        m.sid
                    ))
                    .await?;
                if newest.body["messages"][0]["sid"] != sid.as_str() {
                    stale.push(format!(
                        "{} posted {sid} at {index}; the newest on {} is {}",
                        via.name, r.name, newest.body["messages"][0]
                    ));
                }
            }
        } else if pick < 85 {
            let m = &mut mine[c];
            let added = expect(
                via.api
                    .post(
                        &format!("/v1/Conversations/{}/Participants", m.sid),
                        &[("Identity", &tag)],
                    )
                    .await?,
                201,
                "add participant",
            )?;
            let sid = added["sid"].as_str().context("sid")?.to_string();
            m.participants.push(sid.clone());
            for r in readers(&targets, w) {
                reads += 2;
                let got = r
                    .api
                    .get(&format!("/v1/Conversations/{}/Participants/{sid}", m.sid))
                    .await?;
                if got.status != 200 || got.body["identity"] != tag.as_str() {
                    stale.push(format!(
                        "{} added participant {sid}; {} answered {} {}",
                        via.name, r.name, got.status, got.body
                    ));
                }
                let listed = r
                    .api
                    .collect(
                        &format!("/v1/Conversations/{}/Participants?PageSize=50", m.sid),
                        "participants",
                    )
                    .await?;
                let listed: HashSet<&str> =
                    listed.iter().filter_map(|p| p["sid"].as_str()).collect();
                let expected: HashSet<&str> = m.participants.iter().map(String::as_str).collect();
                if listed != expected {
                    stale.push(format!(
                        "{} added participant {sid}; {} lists {listed:?}, expected {expected:?}",
                        via.name, r.name
                    ));
                }
            }
        } else if pick < 93 && !mine[c].messages.is_empty() {
            let m = &mut mine[c];
            let sid = m.messages.remove(rng.random_range(0..m.messages.len()));
            let path = format!("/v1/Conversations/{}/Messages/{sid}", m.sid);
            expect(via.api.delete(&path).await?, 204, "delete message")?;
            for r in readers(&targets, w) {
                reads += 1;
                let got = r.api.get(&path).await?;
                if got.status != 404 {
                    stale.push(format!(
                        "{} deleted message {sid}; {} answered {} {}",
                        via.name, r.name, got.status, got.body
                    ));
                }
            }
        } else if !mine[c].participants.is_empty() {
            let m = &mut mine[c];
            let sid = m
                .participants
                .remove(rng.random_range(0..m.participants.len()));
            let path = format!("/v1/Conversations/{}/Participants/{sid}", m.sid);
            expect(via.api.delete(&path).await?, 204, "remove participant")?;
            for r in readers(&targets, w) {
                reads += 1;
                let got = r.api.get(&path).await?;
                if got.status != 404 {
                    stale.push(format!(
                        "{} removed participant {sid}; {} answered {} {}",
                        via.name, r.name, got.status, got.body
                    ));
                }
            }
        } else {
            writes -= 1;
        }
    }
    Ok((writes, reads, stale))
}

fn attributes_of(answer: &Answer) -> Value {
    attributes(&answer.body["attributes"])
}

fn attributes_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// A message as it was answered.
#[derive(Clone, Debug)]
struct Posted {
    conversation: String,
    sid: String,
    index: u64,
}

/// Writers posting into three conversations through both nodes and the balancer; then some
/// messages deleted (each conversation's newest among them); then more posts. Every index
/// answered once, 0..n with no gap; the listing on each node is what was answered, less what
/// was deleted.
async fn dense_indexes(targets: &[Target], rng: &mut StdRng) -> anyhow::Result<(usize, usize)> {
    const WRITERS: usize = 24;
    let posts_each = 6;
    let mut conversations = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        let created = target
            .api
            .must_post(
                "/v1/Conversations",
                &[("FriendlyName", &format!("dense {i}"))],
            )
            .await?;
        conversations.push(created["sid"].as_str().context("sid")?.to_string());
    }
    let mut posted = post_wave(targets, &conversations, WRITERS, posts_each, rng, 0).await?;
    // Deletes: each conversation's newest message, and about one in eight of the rest.
    let mut deleted: Vec<Posted> = Vec::new();
    for conversation in &conversations {
        let newest = posted
            .iter()
            .filter(|p| p.conversation == *conversation)
            .max_by_key(|p| p.index)
            .context("a conversation without messages")?;
        deleted.push(newest.clone());
    }
    for p in &posted {
        if rng.random_bool(0.125) && !deleted.iter().any(|d| d.sid == p.sid) {
            deleted.push(p.clone());
        }
    }
    let mut tasks = Vec::new();
    for (k, d) in deleted.iter().enumerate() {
        let targets = targets.to_vec();
        let d = d.clone();
        tasks.push(tokio::spawn(async move {
            let w = k % targets.len();
            let path = format!("/v1/Conversations/{}/Messages/{}", d.conversation, d.sid);
            expect(targets[w].api.delete(&path).await?, 204, "delete")?;
            for r in readers(&targets, w) {
                let got = r.api.get(&path).await?;
                ensure!(
                    got.status == 404,
                    "{} deleted {}; {} answered {} {}",
                    targets[w].name,
                    d.sid,
                    r.name,
                    got.status,
                    got.body
                );
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    posted.extend(post_wave(targets, &conversations, WRITERS, posts_each, rng, 1).await?);

    let deleted_sids: HashSet<&str> = deleted.iter().map(|d| d.sid.as_str()).collect();
    for conversation in &conversations {
        let answered: Vec<&Posted> = posted
            .iter()
            .filter(|p| p.conversation == *conversation)
            .collect();
        let mut indexes: Vec<u64> = answered.iter().map(|p| p.index).collect();
        indexes.sort_unstable();
        let twice: Vec<u64> = indexes
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        ensure!(
            twice.is_empty(),
            "{conversation}: indexes answered twice: {twice:?}"
        );
        ensure!(
            indexes.iter().enumerate().all(|(i, &x)| x == i as u64),
            "{conversation}: the {} answered indexes are not 0..{}: a gap",
            indexes.len(),
            indexes.len()
        );
        let expected: BTreeMap<u64, &str> = answered
            .iter()
            .filter(|p| !deleted_sids.contains(p.sid.as_str()))
            .map(|p| (p.index, p.sid.as_str()))
            .collect();
        for t in &targets[..2] {
            let listed = t
                .api
                .collect(
                    &format!("/v1/Conversations/{conversation}/Messages?PageSize=100"),
                    "messages",
                )
                .await?;
            let listed: BTreeMap<u64, &str> = listed
                .iter()
                .map(|m| {
                    Ok((
                        m["index"].as_u64().context("index")?,
                        m["sid"].as_str().context("sid")?,
                    ))
                })
                .collect::<anyhow::Result<_>>()?;
            ensure!(
                listed == expected,
                "{conversation} on {}: {} messages listed, {} answered and not deleted; first difference at {:?}",
                t.name,
                listed.len(),
                expected.len(),
                listed
                    .iter()
                    .zip(&expected)
                    .find(|(a, b)| a != b)
                    .map(|(a, _)| a)
            );
        }
    }
    Ok((posted.len(), deleted.len()))
}

/// `writers` concurrent writers, each posting `each` messages into a random conversation
/// through a random target; every post must be answered 201.
async fn post_wave(
    targets: &[Target],
    conversations: &[String],
    writers: usize,
    each: usize,
    rng: &mut StdRng,
    wave: usize,
) -> anyhow::Result<Vec<Posted>> {
    let mut tasks = Vec::new();
    for w in 0..writers {
        let targets = targets.to_vec();
        let conversations = conversations.to_vec();
        let seed: u64 = rng.random();
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut posted = Vec::new();
            for seq in 0..each {
                let via = &targets[rng.random_range(0..targets.len())];
                let conversation = &conversations[rng.random_range(0..conversations.len())];
                let answer = via
                    .api
                    .post(
                        &format!("/v1/Conversations/{conversation}/Messages"),
                        &[
                            ("Author", &format!("w{w}")),
                            ("Body", &format!("wave{wave}.w{w}.s{seq}")),
                        ],
                    )
                    .await?;
                let body = expect(answer, 201, &format!("a post through {}", via.name))?;
                posted.push(Posted {
                    conversation: conversation.clone(),
                    sid: body["sid"].as_str().context("sid")?.to_string(),
                    index: body["index"].as_u64().context("index")?,
                });
            }
            anyhow::Ok(posted)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    Ok(all)
}

/// One contest: `attempts` sent at once, spread over the targets. Exactly one must succeed
/// (2xx), the others must be refused with 409 and Twilio's `code`. Returns the winner's body.
async fn contest(
    what: &str,
    refused_code: i64,
    attempts: Vec<tokio::task::JoinHandle<reqwest::Result<Answer>>>,
) -> anyhow::Result<Value> {
    let mut winners = Vec::new();
    let mut refused = 0;
    for attempt in attempts {
        let answer = attempt.await??;
        if answer.ok() {
            winners.push(answer.body);
        } else if answer.status == 409 && code(&answer) == Some(refused_code) {
            refused += 1;
        } else {
            bail!(
                "{what}: answered {} {} (expected 2xx, or 409 with code {refused_code})",
                answer.status,
                answer.body
            );
        }
    }
    ensure!(
        winners.len() == 1,
        "{what}: {} attempts succeeded, {refused} were refused: {winners:?}",
        winners.len()
    );
    Ok(winners.remove(0))
}

/// A POST of `form` to `path` through `target`, started now.
fn spawn_post(
    target: &Target,
    path: String,
    form: Vec<(&'static str, String)>,
) -> tokio::task::JoinHandle<reqwest::Result<Answer>> {
    let api = target.api.clone();
    tokio::spawn(async move {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        api.post(&path, &form).await
    })
}

/// Unique names, user identities, participant identities and SMS bindings, each asked for by
/// several clients at once through both nodes and the balancer: one wins, the others get
/// Twilio's error, and both nodes then agree on the winner.
async fn races(targets: &[Target], round: usize) -> anyhow::Result<usize> {
    const ATTEMPTS: usize = RACERS;
    let contests = 4;
    let api = &targets[2].api;
    // Conversations to rename, to add participants to, and to bind SMS numbers in.
    let mut spare = Vec::new();
    for i in 0..ATTEMPTS {
        let created = api
            .must_post(
                "/v1/Conversations",
                &[("FriendlyName", &format!("race {i}"))],
            )
            .await?;
        spare.push(created["sid"].as_str().context("sid")?.to_string());
    }
    let via = |j: usize| &targets[j % targets.len()];
    for k in 0..contests {
        // A unique name: new conversations and renamed ones ask for it at once.
        let name = format!("race-name-{round}-{k}");
        let attempts = (0..ATTEMPTS)
            .map(|j| {
                let path = if j % 2 == 0 {
                    "/v1/Conversations".to_string()
                } else {
                    format!("/v1/Conversations/{}", spare[j])
                };
                spawn_post(via(j + k), path, vec![("UniqueName", name.clone())])
            })
            .collect();
        let winner = contest(&format!("UniqueName {name}"), UNIQUE_NAME_TAKEN, attempts).await?;
        for t in &targets[..2] {
            let got = t.api.must_get(&format!("/v1/Conversations/{name}")).await?;
            ensure!(
                got["sid"] == winner["sid"],
                "{name}: {} finds {}, the winner was {}",
                t.name,
                got["sid"],
                winner["sid"]
            );
        }

        // A user identity.
        let identity = format!("race-user-{round}-{k}");
        let attempts = (0..ATTEMPTS)
            .map(|j| {
                spawn_post(
                    via(j + k),
                    "/v1/Users".into(),
                    vec![("Identity", identity.clone())],
                )
            })
            .collect();
        let winner = contest(&format!("User {identity}"), USER_EXISTS, attempts).await?;
        for t in &targets[..2] {
            let got = t.api.must_get(&format!("/v1/Users/{identity}")).await?;
            ensure!(
                got["sid"] == winner["sid"],
                "user {identity}: {} finds {}, the winner was {}",
                t.name,
                got["sid"],
                winner["sid"]
            );
        }

        // A participant identity, in one conversation.
        let conversation = &spare[k % spare.len()];
        let identity = format!("race-participant-{round}-{k}");
        let attempts = (0..ATTEMPTS)
            .map(|j| {
                spawn_post(
                    via(j + k),
                    format!("/v1/Conversations/{conversation}/Participants"),
                    vec![("Identity", identity.clone())],
                )
            })
            .collect();
        contest(
            &format!("participant {identity} in {conversation}"),
            PARTICIPANT_EXISTS,
            attempts,
        )
        .await?;

        // One (address, proxy address) pair, asked for in several live conversations.
        let address = format!("+1555{round:03}{k:04}");
        let proxy = format!("+1556{round:03}{k:04}");
        let attempts = (0..ATTEMPTS)
            .map(|j| {
                spawn_post(
                    via(j + k),
                    format!("/v1/Conversations/{}/Participants", spare[j]),
                    vec![
                        ("MessagingBinding.Address", address.clone()),
                        ("MessagingBinding.ProxyAddress", proxy.clone()),
                    ],
                )
            })
            .collect();
        let winner = contest(
            &format!("binding ({address}, {proxy})"),
            BINDING_TAKEN,
            attempts,
        )
        .await?;
        let holder = winner["conversation_sid"]
            .as_str()
            .context("conversation_sid")?;
        for t in &targets[..2] {
            let listed = t
                .api
                .collect(
                    &format!("/v1/Conversations/{holder}/Participants?PageSize=100"),
                    "participants",
                )
                .await?;
            ensure!(
                listed.iter().any(|p| p["sid"] == winner["sid"]),
                "binding ({address}, {proxy}): {} does not list the winner {} in {holder}",
                t.name,
                winner["sid"]
            );
        }
    }
    Ok(contests * 4)
}

/// Accounts made through one node, used at once through the other and the balancer; API keys
/// made through the other, used at once everywhere; a wrong secret refused everywhere; then
/// the account deleted through the other, and its token and key refused everywhere.
async fn accounts_everywhere(cluster: &Cluster, round: usize) -> anyhow::Result<usize> {
    let accounts = 3;
    let mut tasks = Vec::new();
    for i in 0..accounts {
        let bases: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| n.base.clone())
            .chain([cluster.balancer.base.clone()])
            .collect();
        tasks.push(tokio::spawn(async move {
            let (made_on, other) = (i % 2, 1 - i % 2);
            let operator = Api::new(&bases[made_on], OPERATOR_SID, OPERATOR_TOKEN);
            let account = operator
                .new_account(&format!("everywhere {round}.{i}"))
                .await?;
            for base in [&bases[other], &bases[2], &bases[made_on]] {
                account
                    .on(base)
                    .must_get("/v1/Conversations")
                    .await
                    .with_context(|| {
                        format!("account {} made on node {}", account.sid, made_on + 1)
                    })?;
            }
            let key = account
                .on(&bases[other])
                .must_post(&format!("/confab/Accounts/{}/Keys", account.sid), &[])
                .await?;
            let key_sid = key["sid"].as_str().context("key sid")?;
            let secret = key["secret"].as_str().context("key secret")?;
            let mut created = None;
            for base in [&bases[made_on], &bases[2], &bases[other]] {
                let with_key = Api::new(base, key_sid, secret);
                with_key
                    .must_get("/v1/Services")
                    .await
                    .with_context(|| format!("key {key_sid} made on node {}", other + 1))?;
                if created.is_none() {
                    let c = with_key
                        .must_post("/v1/Conversations", &[("FriendlyName", "by key")])
                        .await?;
                    created = c["sid"].as_str().map(str::to_string);
                }
                let wrong = Api::new(base, key_sid, "not the secret");
                let refused = wrong.get("/v1/Services").await?;
                ensure!(
                    refused.status == 401,
                    "a wrong secret for {key_sid}: {} {}",
                    refused.status,
                    refused.body
                );
            }
            let created = created.context("no conversation made with the key")?;
            account
                .on(&bases[other])
                .must_get(&format!("/v1/Conversations/{created}"))
                .await?;
            // Deleted through one node, with its token and key known to both: refused by both.
            let operator_other = Api::new(&bases[other], OPERATOR_SID, OPERATOR_TOKEN);
            let path = format!("/confab/Accounts/{}", account.sid);
            expect(
                operator_other.delete(&path).await?,
                204,
                "delete the account",
            )?;
            for base in [&bases[other], &bases[made_on], &bases[2]] {
                refused_soon(&account.on(base)).await?;
                refused_soon(&Api::new(base, key_sid, secret)).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(accounts)
}

/// Waits until `api`'s credentials are refused (401): at once on the node that deleted the
/// account, within the time its `NOTIFY` takes on the others (well under a second).
async fn refused_soon(api: &Api) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let answer = api.get("/v1/Conversations").await?;
        if answer.status == 401 {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "a deleted account still answered on {}: {} {}",
            api.base,
            answer.status,
            answer.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The test clock moved through one node (or the balancer), as the operator, while both nodes
/// take writes: `GET /confab/Clock` on each node right after says it moved, and so does a date
/// written there.
async fn clock_everywhere(cluster: &Cluster, rounds: usize) -> anyhow::Result<String> {
    const WRITERS: usize = 16;
    let moves = 10 * rounds;
    let bases: Vec<String> = cluster
        .nodes
        .iter()
        .map(|n| n.base.clone())
        .chain([cluster.balancer.base.clone()])
        .collect();
    let operator = |base: &str| Api::new(base, OPERATOR_SID, OPERATOR_TOKEN);
    // Writers keep both nodes busy meanwhile.
    let busy = operator(&bases[2]).new_account("busy").await?;
    let conversation = busy
        .must_post("/v1/Conversations", &[("FriendlyName", "busy")])
        .await?["sid"]
        .as_str()
        .context("sid")?
        .to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (api, stop) = (busy.on(&bases[w % 2]), stop.clone());
        let path = format!("/v1/Conversations/{conversation}/Messages");
        writers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                api.must_post(&path, &[("Body", "busy")]).await?;
            }
            anyhow::Ok(())
        }));
    }
    let mut reads = 0;
    let mut checked = async || -> anyhow::Result<()> {
        for k in 0..moves {
            let mover = &bases[k % bases.len()];
            let moved = operator(mover)
                .must_post("/confab/Clock", &[("Advance", "PT1H")])
                .await?;
            let now = moved["now"].as_str().context("now")?.to_string();
            let mut looks = Vec::new();
            for base in &bases[..2] {
                let api = operator(base);
                looks.push(tokio::spawn(
                    async move { api.must_get("/confab/Clock").await },
                ));
            }
            for (n, look) in looks.into_iter().enumerate() {
                reads += 1;
                let clock = look.await??;
                let there = clock["now"].as_str().context("now")?;
                // ISO-8601 dates of one format compare as strings.
                ensure!(
                    there >= now.as_str(),
                    "the clock moved to {now} through {mover}; node {} says {there} right after",
                    n + 1
                );
            }
            for (n, base) in bases[..2].iter().enumerate() {
                let created = operator(base)
                    .must_post("/v1/Conversations", &[("FriendlyName", "clock")])
                    .await?;
                let date = created["date_created"].as_str().context("date_created")?;
                ensure!(
                    date >= now.as_str(),
                    "the clock moved to {now} through {mover}; node {} dated a conversation {date} right after",
                    n + 1
                );
            }
        }
        Ok(())
    };
    let outcome = checked().await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await??;
    }
    outcome?;
    Ok(format!(
        "clock: {moves} moves of an hour (through node1, node2, haproxy) while {WRITERS} writers kept both nodes busy; {reads} reads on the nodes right after, none behind"
    ))
}

/// The account's default Conversation Service.
async fn default_service(api: &Api) -> anyhow::Result<String> {
    let services = api.must_get("/v1/Services").await?;
    Ok(services["services"][0]["sid"]
        .as_str()
        .context("the default service")?
        .to_string())
}

/// Sends the service's post-action webhooks for `filters` to `url`.
async fn service_webhooks(api: &Api, url: &str, filters: &[&str]) -> anyhow::Result<()> {
    let service = default_service(api).await?;
    let mut form = vec![("PostWebhookUrl", url), ("Method", "POST")];
    form.extend(filters.iter().map(|f| ("Filters", *f)));
    api.must_post(
        &format!("/v1/Services/{service}/Configuration/Webhooks"),
        &form,
    )
    .await?;
    Ok(())
}

/// Waits until `missing` (given what the receiver got so far) finds nothing missing: up to
/// 90 s, and no more than 30 s without a new request.
async fn settle(
    receiver: &Receiver,
    what: &str,
    missing: impl Fn(&[Delivery]) -> Vec<String>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let (mut seen, mut progressed) = (0, Instant::now());
    loop {
        let log = receiver.received_since(0);
        if log.len() > seen {
            seen = log.len();
            progressed = Instant::now();
        }
        let left = missing(&log);
        if left.is_empty() {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(90)
            || progressed.elapsed() > Duration::from_secs(30)
        {
            bail!(
                "{what}: {} never came ({:?} after the writes, nothing new for {:?}), e.g.:\n  {}",
                left.len(),
                started.elapsed(),
                progressed.elapsed(),
                left.iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n  ")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether `log` has a delivery (200) of `event` at `path` with these parameters.
fn has(log: &[Delivery], path: &str, event: &str, params: &[(&str, &str)]) -> bool {
    log.iter().any(|d| {
        d.status == 200
            && d.path == path
            && d.param("EventType") == event
            && params.iter().all(|(k, v)| d.param(k) == *v)
    })
}

// ---------------------------------------------------------------------------------------------
// events

/// What a round of [`events`] saw.
#[derive(Default)]
struct EventCounts {
    posts: usize,
    requests: usize,
    events: usize,
    queues: usize,
    retried: usize,
    timers: usize,
    transitions: usize,
    receipts: usize,
}

/// Rounds of: a new account whose service sends its webhooks to a receiver, conversations with
/// a scoped webhook, with an SMS participant, with timers; writers posting through both nodes
/// and the balancer while the clock is moved through one node and then the other.
pub async fn events(store: &mut Store, seed: u64, rounds: usize) -> anyhow::Result<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let receiver = Receiver::holding(0.03, 0..15);
    let cluster = Cluster::start(store, &[]).await?;
    let mut total = EventCounts::default();
    for round in 0..rounds {
        let c = events_round(&cluster, &receiver, &mut rng, round)
            .await
            .with_context(|| format!("round {round}"))?;
        total.posts += c.posts;
        total.requests += c.requests;
        total.events += c.events;
        total.queues += c.queues;
        total.retried += c.retried;
        total.timers += c.timers;
        total.transitions += c.transitions;
        total.receipts += c.receipts;
    }
    Ok(format!(
        "nodes=2 behind haproxy, rounds={rounds}; posts={} webhook_requests={} events={} queues={} duplicates=0 overlapping=0 out_of_order=0 retried_after_500={}; timers: conversations={} transitions={} each once; receipts={} sent+delivered once each",
        total.posts,
        total.requests,
        total.events,
        total.queues,
        total.retried,
        total.timers,
        total.transitions,
        total.receipts
    ))
}

async fn events_round(
    cluster: &Cluster,
    receiver: &Receiver,
    rng: &mut StdRng,
    round: usize,
) -> anyhow::Result<EventCounts> {
    const WRITERS: usize = 12;
    receiver.allow_failures(6);
    let operator = Api::new(&cluster.balancer.base, OPERATOR_SID, OPERATOR_TOKEN);
    let account = operator.new_account(&format!("events {round}")).await?;
    let targets = cluster.targets(&account);
    let api = &targets[2].api;
    service_webhooks(
        api,
        &format!("{}/service", receiver.base),
        &[
            "onMessageAdded",
            "onConversationStateUpdated",
            "onDeliveryUpdated",
        ],
    )
    .await?;
    let create = async |t: &Target, form: &[(&str, &str)]| -> anyhow::Result<String> {
        let created = t.api.must_post("/v1/Conversations", form).await?;
        Ok(created["sid"].as_str().context("sid")?.to_string())
    };
    // Chat conversations, each with a scoped webhook too: two queues each.
    let mut chats = Vec::new();
    for i in 0..4 {
        let sid = create(&targets[i % 3], &[("FriendlyName", &format!("chat {i}"))]).await?;
        targets[(i + 1) % 3]
            .api
            .must_post(
                &format!("/v1/Conversations/{sid}/Webhooks"),
                &[
                    ("Target", "webhook"),
                    ("Configuration.Url", &format!("{}/scoped", receiver.base)),
                    ("Configuration.Method", "POST"),
                    ("Configuration.Filters", "onMessageAdded"),
                ],
            )
            .await?;
        chats.push(sid);
    }
    // Conversations with an SMS participant: each message gets a receipt, which moves
    // queued → sent → delivered on the clock.
    let mut sms = Vec::new();
    for i in 0..3 {
        let sid = create(&targets[i % 3], &[("FriendlyName", &format!("sms {i}"))]).await?;
        targets[(i + 1) % 3]
            .api
            .must_post(
                &format!("/v1/Conversations/{sid}/Participants"),
                &[
                    (
                        "MessagingBinding.Address",
                        &format!("+1557{round:03}{i:04}"),
                    ),
                    ("MessagingBinding.ProxyAddress", "+15559993000"),
                ],
            )
            .await?;
        sms.push(sid);
    }
    // Conversations with timers: inactive after a minute, closed after ten.
    let mut timed = Vec::new();
    for i in 0..8 {
        timed.push(
            create(
                &targets[i % 3],
                &[
                    ("FriendlyName", &format!("timed {i}")),
                    ("State", "active"),
                    ("Timers.Inactive", "PT1M"),
                    ("Timers.Closed", "PT10M"),
                ],
            )
            .await?,
        );
    }

    // Writers post through both nodes and the balancer, while the clock is moved through one
    // node, then the other: the timers fall due on both nodes at once.
    let conversations: Vec<String> = chats.iter().chain(&sms).cloned().collect();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (targets, conversations) = (targets.clone(), conversations.clone());
        let seed: u64 = rng.random();
        let each = 8;
        writers.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut posted = Vec::new();
            for seq in 0..each {
                let via = &targets[rng.random_range(0..targets.len())];
                let conversation = &conversations[rng.random_range(0..conversations.len())];
                let answer = via
                    .api
                    .post_with_headers(
                        &format!("/v1/Conversations/{conversation}/Messages"),
                        &[
                            ("Author", &format!("w{w}")),
                            ("Body", &format!("w{w}.s{seq}")),
                        ],
                        &[WEBHOOKS],
                    )
                    .await?;
                let body = expect(answer, 201, &format!("a post through {}", via.name))?;
                posted.push(Posted {
                    conversation: conversation.clone(),
                    sid: body["sid"].as_str().context("sid")?.to_string(),
                    index: body["index"].as_u64().context("index")?,
                });
            }
            anyhow::Ok(posted)
        }));
    }
    let bases: Vec<String> = cluster.nodes.iter().map(|n| n.base.clone()).collect();
    let (watch, timed_list) = (targets[2].api.clone(), timed.clone());
    let mover = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        Api::new(&bases[0], OPERATOR_SID, OPERATOR_TOKEN)
            .must_post("/confab/Clock", &[("Advance", "PT2M")])
            .await?;
        // Every timer goes inactive before the clock moves past the closing ones (else a
        // conversation would go from active to closed at once).
        all_in_state(&watch, &timed_list, "inactive").await?;
        Api::new(&bases[1], OPERATOR_SID, OPERATOR_TOKEN)
            .must_post("/confab/Clock", &[("Advance", "PT10M")])
            .await?;
        anyhow::Ok(())
    });
    let mut posted = Vec::new();
    for w in writers {
        posted.extend(w.await??);
    }
    mover.await??;

    let is_chat: HashSet<&str> = chats.iter().map(String::as_str).collect();
    settle(receiver, "webhooks", |log| {
        let mut missing = Vec::new();
        for p in &posted {
            let paths: &[&str] = if is_chat.contains(p.conversation.as_str()) {
                &["/service", "/scoped"]
            } else {
                &["/service"]
            };
            for path in paths {
                if !has(log, path, "onMessageAdded", &[("MessageSid", &p.sid)]) {
                    missing.push(format!("onMessageAdded of {} at {path}", p.sid));
                }
            }
            if !is_chat.contains(p.conversation.as_str())
                && !has(
                    log,
                    "/service",
                    "onDeliveryUpdated",
                    &[("MessageSid", &p.sid), ("Status", "delivered")],
                )
            {
                missing.push(format!("the receipt of {} delivered", p.sid));
            }
        }
        for c in &timed {
            if !has(
                log,
                "/service",
                "onConversationStateUpdated",
                &[("ConversationSid", c), ("StateTo", "closed")],
            ) {
                missing.push(format!("{c} closed"));
            }
        }
        missing
    })
    .await?;
    // Anything fired twice would come within a second or two.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log: Vec<Delivery> = receiver
        .received_since(0)
        .into_iter()
        .filter(|d| d.param("AccountSid") == account.sid)
        .collect();
    let analysis = deliveries::analyse(&log);
    analysis.result("webhooks")?;
    ensure!(
        analysis.duplicates == 0,
        "{} events were delivered (answered 200) more than once, and no node died: two nodes sent one",
        analysis.duplicates
    );

    // Each message added once per target, each timer transition and each receipt status once.
    let mut problems = Vec::new();
    for p in &posted {
        let added = deliveries::delivered_events(&log, |d| {
            d.param("EventType") == "onMessageAdded" && d.param("MessageSid") == p.sid
        });
        let expected = if is_chat.contains(p.conversation.as_str()) {
            2
        } else {
            1
        };
        if added.len() != expected {
            problems.push(format!(
                "{} (index {}): {} onMessageAdded events, expected {expected}",
                p.sid,
                p.index,
                added.len()
            ));
        }
        if !is_chat.contains(p.conversation.as_str()) {
            let statuses: Vec<&str> = deliveries::delivered_events(&log, |d| {
                d.param("EventType") == "onDeliveryUpdated" && d.param("MessageSid") == p.sid
            })
            .iter()
            .map(|d| d.param("Status"))
            .collect();
            if statuses != ["sent", "delivered"] {
                problems.push(format!(
                    "the receipt of {}: onDeliveryUpdated {statuses:?}, expected sent, delivered once each",
                    p.sid
                ));
            }
        }
    }
    let timed_set: HashSet<&str> = timed.iter().map(String::as_str).collect();
    let mut transitions = 0;
    for c in &timed {
        let moves: Vec<(&str, &str, &str)> = deliveries::delivered_events(&log, |d| {
            d.param("EventType") == "onConversationStateUpdated" && d.param("ConversationSid") == c
        })
        .iter()
        .map(|d| (d.param("StateFrom"), d.param("StateTo"), d.param("Reason")))
        .collect();
        transitions += moves.len();
        if moves
            != [
                ("active", "inactive", "TIMER"),
                ("inactive", "closed", "TIMER"),
            ]
        {
            problems.push(format!(
                "{c}: state updates {moves:?}, expected active → inactive, inactive → closed, once each"
            ));
        }
        for t in &targets[..2] {
            let got = t.api.must_get(&format!("/v1/Conversations/{c}")).await?;
            if got["state"] != "closed" {
                problems.push(format!("{c} on {}: state {}", t.name, got["state"]));
            }
        }
    }
    for d in &log {
        if d.param("EventType") == "onConversationStateUpdated"
            && !timed_set.contains(d.param("ConversationSid"))
        {
            problems.push(format!("a state update nobody timed: {:?}", d.params));
        }
    }
    ensure!(
        problems.is_empty(),
        "{} problems:\n  {}",
        problems.len(),
        problems
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  ")
    );
    let receipts = posted
        .iter()
        .filter(|p| !is_chat.contains(p.conversation.as_str()))
        .count();
    Ok(EventCounts {
        posts: posted.len(),
        requests: analysis.requests,
        events: analysis.events,
        queues: analysis.queues,
        retried: analysis.failed,
        timers: timed.len(),
        transitions,
        receipts,
    })
}

/// Waits (up to 30 s) until every one of `conversations` is in `state`.
async fn all_in_state(api: &Api, conversations: &[String], state: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    for c in conversations {
        loop {
            let got = api.must_get(&format!("/v1/Conversations/{c}")).await?;
            if got["state"] == state {
                break;
            }
            ensure!(
                started.elapsed() < Duration::from_secs(30),
                "{c} is still {} 30 s after its timer fell due",
                got["state"]
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// node_dies

/// The lease the nodes of [`node_dies`] claim webhook deliveries with (`--webhook-lease`).
const LEASE_SECS: i64 = 5;
/// How long the receiver holds requests around the kill, so that the dying node has claims
/// out when it dies...
const HOLD_AT_KILL_MS: std::ops::Range<u64> = 600..800;
/// ...and otherwise.
const HOLD_MS: std::ops::Range<u64> = 20..80;
/// How long after the kill the claims are watched: a holder that claims anything new meanwhile
/// is alive; the claims alive at the kill whose holder never does are the dead node's.
const CLAIMS_WATCH: Duration = Duration::from_secs(3);
/// How long after the kill the balancer may still answer a request with an error (its health
/// check: every second, down after two failures).
const BALANCER_GRACE: Duration = Duration::from_secs(4);
/// How long the writers go on after the kill.
const AFTER_KILL: Duration = Duration::from_secs(5);
/// The share of writes sent with webhooks (`X-Twilio-Webhook-Enabled: true`): enough that
/// both nodes always have deliveries to claim, few enough that the receiver catches up soon.
const WEBHOOK_SHARE: f64 = 0.25;

/// One write of a writer of [`node_dies`]: when it was answered, through which target, and how.
struct Sent {
    at: Instant,
    target: &'static str,
    /// `None` when answered 2xx; else what came back.
    failure: Option<String>,
}

/// A writer of [`node_dies`]: the campaign's writes (workload.rs) with webhooks, through its
/// target until the stop, moving to the balancer when its node stops answering. A node's or
/// the balancer's failure to answer leaves the write unknown; any other refusal ends it.
async fn dies_writer(
    targets: Vec<Target>,
    round: usize,
    w: usize,
    shared: Vec<String>,
    seed: u64,
    answered: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> (Vec<Record>, Vec<Sent>, HashSet<String>, Option<String>) {
    let mut rng = StdRng::seed_from_u64(seed);
    // Which writes fire webhooks: drawn apart, so that the writes are the campaign's.
    let mut hooks_rng = StdRng::seed_from_u64(seed ^ 0x686f_6f6b);
    let mut hooked = HashSet::new();
    let (mut records, mut sent) = (Vec::new(), Vec::new());
    let mut own: Vec<String> = Vec::new();
    let mut target = w % targets.len();
    for seq in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let op = workload::next_op(&mut rng, round, w, seq, &own, &shared);
        let via = &targets[target];
        let headers: &[(&str, &str)] = if hooks_rng.random_bool(WEBHOOK_SHARE) {
            if let Op::PostMessage { body, .. } = &op {
                hooked.insert(workload::tag_of(body).to_string());
            }
            &[WEBHOOKS]
        } else {
            &[]
        };
        let answer = workload::send_op(&via.api, w, &op, headers).await;
        let at = Instant::now();
        let failure = match answer {
            Ok(a) if a.ok() => {
                let Some(sid) = a.body["sid"].as_str().map(str::to_string) else {
                    let why = format!("{op:?}: no sid in {}", a.body);
                    return (records, sent, hooked, Some(why));
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
                        index: a.body["index"].as_u64(),
                    },
                });
                sent.push(Sent {
                    at,
                    target: via.name,
                    failure: None,
                });
                continue;
            }
            Ok(a) if via.node.is_none() && matches!(a.status, 502..=504) => {
                format!("{} {}", a.status, a.body)
            }
            Ok(a) => {
                let why = format!("{op:?} through {}: {} {}", via.name, a.status, a.body);
                return (records, sent, hooked, Some(why));
            }
            Err(e) => e.to_string(),
        };
        records.push(Record {
            writer: w,
            op,
            outcome: Outcome::Unknown,
        });
        sent.push(Sent {
            at,
            target: via.name,
            failure: Some(failure),
        });
        if via.node.is_some() {
            target = targets.len() - 1;
        }
    }
    (records, sent, hooked, None)
}

/// A claim on a webhook queue, as the database holds it.
#[derive(Debug, Clone, PartialEq)]
struct Claim {
    queue: String,
    holder: String,
    until: i64,
    /// The queue's head: its idempotency token, conversation and URL.
    token: String,
    conversation: String,
    url: String,
}

/// The live claims on webhook queues now (`webhook_queues`, with each queue's head from
/// `webhook_outbox`).
fn live_claims(store: &Store) -> anyhow::Result<Vec<Claim>> {
    let rows = pg_rows(
        store.pg_url().context("a PostgreSQL store")?,
        "SELECT q.id, q.lease_holder, q.lease_until, h.id, h.date_created, h.conversation_sid, h.url
         FROM webhook_queues q JOIN LATERAL (
             SELECT o.id, o.date_created, o.conversation_sid, o.url FROM webhook_outbox o
             WHERE o.queue_id = q.id ORDER BY o.id LIMIT 1) h ON true
         WHERE q.lease_until > extract(epoch FROM now())::bigint",
    )?;
    rows.into_iter()
        .map(|r| {
            let text = |i: usize| r[i].clone().unwrap_or_default();
            Ok(Claim {
                queue: text(0),
                holder: text(1),
                until: text(2).parse().context("lease_until")?,
                token: format!("confab-{}-{}", text(3), text(4)),
                conversation: text(5),
                url: text(6),
            })
        })
        .collect()
}

/// What a round of [`node_dies`] saw.
#[derive(Default)]
struct DiesCounts {
    writers: usize,
    acked: usize,
    after_kill: usize,
    unanswered: usize,
    present_unacked: usize,
    hooked: usize,
    requests: usize,
    duplicates: usize,
    claims: usize,
    orphans: usize,
    /// The earliest and latest takeover, in ms after the kill.
    takeover: (i64, i64),
    timers: usize,
}

/// Rounds of: writers spread over both nodes and the balancer, one node killed (kill -9), the
/// other carrying on, every answered write checked, every webhook and timer accounted for, the
/// dead node's webhook claims taken over; then the dead node restarted where it listened.
pub async fn node_dies(store: &mut Store, seed: u64, rounds: usize) -> anyhow::Result<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let receiver = Receiver::holding(0.0, HOLD_MS);
    let lease = format!("PT{LEASE_SECS}S");
    let args: Vec<&str> = NODE_ARGS
        .iter()
        .copied()
        .chain(["--webhook-lease", &lease])
        .collect();
    let mut cluster = Cluster::start(store, &["--webhook-lease", &lease]).await?;
    let mut t = DiesCounts {
        takeover: (i64::MAX, 0),
        ..DiesCounts::default()
    };
    let mut killed = Vec::new();
    for round in 0..rounds {
        let victim = rng.random_range(0..2);
        let c = dies_round(store, &mut cluster, &receiver, &mut rng, round, victim)
            .await
            .with_context(|| format!("round {round}"))?;
        killed.push(format!("node{}", victim + 1));
        t.writers += c.writers;
        t.acked += c.acked;
        t.after_kill += c.after_kill;
        t.unanswered += c.unanswered;
        t.present_unacked += c.present_unacked;
        t.hooked += c.hooked;
        t.requests += c.requests;
        t.duplicates += c.duplicates;
        t.claims += c.claims;
        t.orphans += c.orphans;
        t.takeover = (
            t.takeover.0.min(c.takeover.0),
            t.takeover.1.max(c.takeover.1),
        );
        t.timers += c.timers;
        // The dead node comes back where it listened, and the balancer's health check takes
        // it back in.
        let addr = cluster.nodes[victim].addr().to_string();
        cluster.nodes[victim] = Server::launch_on(store, &addr, &args, &[])?
            .ready()
            .await
            .with_context(|| format!("round {round}: restarting node{}", victim + 1))?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    Ok(format!(
        "nodes=2 behind haproxy, rounds={rounds}, killed (kill -9) {} under writers={} and restarted; acked={} (after the kill: {}) unanswered={} (none later than {BALANCER_GRACE:?} after the kill) lost=0 present_unacked={}; webhooks: stored_with_webhooks={} requests={} duplicates={} overlapping=0 out_of_order=0; the dead node held {} of {} live webhook claims, taken over {:.1}-{:.1} s after the kill (lease {lease}); timers: {} fired once each",
        killed.join(","),
        t.writers,
        t.acked,
        t.after_kill,
        t.unanswered,
        t.present_unacked,
        t.hooked,
        t.requests,
        t.duplicates,
        t.orphans,
        t.claims,
        t.takeover.0 as f64 / 1000.0,
        t.takeover.1 as f64 / 1000.0,
        t.timers
    ))
}

async fn dies_round(
    store: &Store,
    cluster: &mut Cluster,
    receiver: &Receiver,
    rng: &mut StdRng,
    round: usize,
    victim: usize,
) -> anyhow::Result<DiesCounts> {
    let operator = Api::new(&cluster.balancer.base, OPERATOR_SID, OPERATOR_TOKEN);
    let mut model = workload::setup_round(&operator, round).await?;
    let service_url = format!("{}/service", receiver.base);
    service_webhooks(&model.api, &service_url, &["onMessageAdded"]).await?;
    // Timers, in an account of their own: they fall due right before the kill.
    let timers = operator.new_account(&format!("timers {round}")).await?;
    service_webhooks(
        &timers,
        &format!("{}/timers", receiver.base),
        &["onConversationStateUpdated"],
    )
    .await?;
    let timer_targets = cluster.targets(&timers);
    let mut timed = Vec::new();
    for i in 0..12 {
        let created = timer_targets[i % 3]
            .api
            .must_post(
                "/v1/Conversations",
                &[
                    ("FriendlyName", &format!("timed {i}")),
                    ("State", "active"),
                    ("Timers.Inactive", "PT1M"),
                ],
            )
            .await?;
        timed.push(created["sid"].as_str().context("sid")?.to_string());
    }

    let targets = cluster.targets(&model.api);
    let shared = model.shared();
    let writers = rng.random_range(16..=24);
    let (answered, stop) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let mut tasks = Vec::new();
    for w in 0..writers {
        tasks.push(tokio::spawn(dies_writer(
            targets.clone(),
            round,
            w,
            shared.clone(),
            rng.random(),
            answered.clone(),
            stop.clone(),
        )));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(rng.random_range(400..1200))).await;
    while answered.load(Ordering::Relaxed) < MIN_ANSWERED && started.elapsed() < MAX_WAIT {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Webhook requests are held longer for a while, so that both nodes have some out; the
    // clock is moved through the node about to die: the timers fall due on both.
    receiver.set_hold(HOLD_AT_KILL_MS);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let survivor = 1 - victim;
    Api::new(&cluster.nodes[victim].base, OPERATOR_SID, OPERATOR_TOKEN)
        .must_post("/confab/Clock", &[("Advance", "PT2M")])
        .await?;
    tokio::time::sleep(Duration::from_millis(rng.random_range(0..30))).await;
    cluster.nodes[victim].kill9();
    let (killed, killed_unix_ms) = (Instant::now(), unix_ms());
    receiver.set_hold(HOLD_MS);
    // The claims alive at the kill; the holders that claim anything new afterwards are alive,
    // and the claims of the one that does not are the dead node's.
    let at_kill = live_claims(store)?;
    let mut alive = HashSet::new();
    while killed.elapsed() < CLAIMS_WATCH {
        tokio::time::sleep(Duration::from_millis(200)).await;
        for claim in live_claims(store)? {
            if !at_kill.contains(&claim) {
                alive.insert(claim.holder);
            }
        }
    }
    let holders: HashSet<&str> = at_kill.iter().map(|c| c.holder.as_str()).collect();
    let dead: Vec<&str> = holders
        .iter()
        .copied()
        .filter(|h| !alive.contains(*h))
        .collect();
    ensure!(
        dead.len() == 1,
        "{} holders of the {} claims alive at the kill claimed nothing new in the {CLAIMS_WATCH:?} after it, one expected (the dead node): {at_kill:?}",
        dead.len(),
        at_kill.len()
    );
    let orphans: Vec<Claim> = at_kill
        .iter()
        .filter(|c| c.holder == dead[0])
        .cloned()
        .collect();
    tokio::time::sleep(AFTER_KILL.saturating_sub(killed.elapsed())).await;
    stop.store(true, Ordering::Relaxed);

    let (mut refused, mut sent, mut hooked) = (Vec::new(), Vec::new(), HashSet::new());
    for task in tasks {
        let (records, s, h, failure) = task.await?;
        model.records.extend(records);
        sent.extend(s);
        hooked.extend(h);
        refused.extend(failure);
    }
    ensure!(
        refused.is_empty(),
        "{} writes were refused, e.g. {}",
        refused.len(),
        refused[0]
    );
    let late: Vec<String> = sent
        .iter()
        .filter(|s| s.at > killed + BALANCER_GRACE && s.failure.is_some())
        .map(|s| {
            format!(
                "{} {:?} after the kill: {}",
                s.target,
                s.at - killed,
                s.failure.as_deref().unwrap_or_default()
            )
        })
        .collect();
    ensure!(
        late.is_empty(),
        "{} writes failed more than {BALANCER_GRACE:?} after the kill (the balancer should have taken the dead node out), e.g. {}",
        late.len(),
        late[0]
    );
    let after_kill = sent
        .iter()
        .filter(|s| s.at > killed && s.failure.is_none())
        .count();
    ensure!(
        after_kill >= 20,
        "only {after_kill} writes were answered after the kill: the surviving node did not carry on"
    );
    let failed = sent.iter().filter(|s| s.failure.is_some()).count();
    let acked = sent.len() - failed;

    // Every answered write is there, as answered, indexes dense: read on the survivor.
    let survivor_base = cluster.nodes[survivor].base.clone();
    model.api = model.api.on(&survivor_base);
    let verdict = check::check(&model, Loss::Forbidden).await?;
    check::verdict_result(&verdict, "after the kill")?;
    check::resolve(&mut model, &verdict);
    // The onMessageAdded of every stored message posted with webhooks.
    let mut stored: Vec<(String, String, u64)> = Vec::new();
    for c in model
        .api
        .collect("/v1/Conversations?PageSize=100", "conversations")
        .await?
    {
        let sid = c["sid"].as_str().context("sid")?;
        for m in model
            .api
            .collect(
                &format!("/v1/Conversations/{sid}/Messages?PageSize=100"),
                "messages",
            )
            .await?
        {
            if hooked.contains(workload::tag_of(m["body"].as_str().unwrap_or_default())) {
                stored.push((
                    sid.to_string(),
                    m["sid"].as_str().context("message sid")?.to_string(),
                    m["index"].as_u64().context("index")?,
                ));
            }
        }
    }
    check::next_index(&mut model, &verdict)
        .await
        .context("the next index after the kill")?;
    let timer_api = timers.on(&survivor_base);
    all_in_state(&timer_api, &timed, "inactive").await?;
    settle(receiver, "webhooks after the kill", |log| {
        let mut missing: Vec<String> = stored
            .iter()
            .filter(|(_, m, _)| !has(log, "/service", "onMessageAdded", &[("MessageSid", m)]))
            .map(|(c, m, i)| format!("onMessageAdded of {m} ({c} index {i})"))
            .collect();
        missing.extend(
            timed
                .iter()
                .filter(|c| {
                    !has(
                        log,
                        "/timers",
                        "onConversationStateUpdated",
                        &[("ConversationSid", c)],
                    )
                })
                .map(|c| format!("{c} inactive")),
        );
        missing
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log: Vec<Delivery> = receiver
        .received_since(0)
        .into_iter()
        .filter(|d| [&model.api.sid, &timers.sid].contains(&&d.param("AccountSid").to_string()))
        .collect();
    let analysis = deliveries::analyse(&log);
    analysis
        .result("webhooks across the kill")
        .with_context(|| format!("node{} was killed at {killed_unix_ms} ms", victim + 1))?;

    // Each timer fired once, whichever node fired it.
    for c in &timed {
        let fired = deliveries::delivered_events(&log, |d| {
            d.param("EventType") == "onConversationStateUpdated" && d.param("ConversationSid") == c
        });
        let moves: Vec<(&str, &str)> = fired
            .iter()
            .map(|d| (d.param("StateFrom"), d.param("StateTo")))
            .collect();
        ensure!(
            moves == [("active", "inactive")],
            "{c}: state updates {moves:?}, expected active → inactive once"
        );
    }

    // The dead node's claims: nobody sent their queues until the lease ran out, then the
    // survivor sent each head.
    let mut waits = Vec::new();
    for claim in &orphans {
        let path = claim.url.trim_start_matches(&receiver.base);
        let lapse_ms = claim.until * 1000;
        let queue = (claim.conversation.clone(), path.to_string());
        let early: Vec<&Delivery> = log
            .iter()
            .filter(|d| {
                queue_of(d) == queue
                    && d.arrived_unix_ms > killed_unix_ms + 300
                    && d.arrived_unix_ms < lapse_ms
            })
            .collect();
        ensure!(
            early.is_empty(),
            "{queue:?} was claimed by the dead node until {lapse_ms} ms, and {} requests came {} ms after the kill",
            early.len(),
            early[0].arrived_unix_ms - killed_unix_ms
        );
        let taken = log
            .iter()
            .filter(|d| d.token == claim.token && d.status == 200 && d.arrived_unix_ms >= lapse_ms)
            .map(|d| d.arrived_unix_ms)
            .min()
            .with_context(|| format!("the head {} of {queue:?}, claimed by the dead node, was never sent after its lease ran out", claim.token))?;
        ensure!(
            taken < lapse_ms + 10_000,
            "{queue:?}: taken over {} ms after its lease ran out",
            taken - lapse_ms
        );
        waits.push(taken - killed_unix_ms);
    }
    Ok(DiesCounts {
        writers,
        acked,
        after_kill,
        unanswered: failed,
        present_unacked: verdict.present_unacked,
        hooked: stored.len(),
        requests: analysis.requests,
        duplicates: analysis.duplicates,
        claims: at_kill.len(),
        orphans: orphans.len(),
        takeover: (
            waits.iter().min().copied().unwrap_or_default(),
            waits.iter().max().copied().unwrap_or_default(),
        ),
        timers: timed.len(),
    })
}

// ---------------------------------------------------------------------------------------------
// migrations

/// The schema migrations this confab knows (one file each).
fn known_migrations() -> anyhow::Result<i64> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/postgres/schema");
    let count = std::fs::read_dir(&dir)
        .with_context(|| dir.display().to_string())?
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count();
    Ok(count as i64)
}

pub async fn migrations(store: &mut Store, _seed: u64) -> anyhow::Result<String> {
    const NEWER: i64 = 987;
    let known = known_migrations()?;
    let url = store.pg_url().context("a PostgreSQL store")?.to_string();
    let env = [(
        "RUST_LOG",
        "warn,confab::store::postgres::migrations=info".to_string(),
    )];
    let mut nodes = start_nodes(store, 3, NODE_ARGS, &env)
        .await
        .context("three nodes started at once on an empty database")?;
    // All up: each answers /readyz and takes a write.
    for (i, node) in nodes.iter().enumerate() {
        let operator = Api::new(&node.base, OPERATOR_SID, OPERATOR_TOKEN);
        operator.must_get("/readyz").await?;
        operator
            .new_account(&format!("node {}", i + 1))
            .await
            .with_context(|| format!("a write on node {}", i + 1))?;
    }
    let versions: Vec<i64> = pg_rows(&url, "SELECT version FROM confab_schema ORDER BY version")?
        .iter()
        .map(|r| r[0].as_deref().unwrap_or_default().parse().unwrap_or(-1))
        .collect();
    ensure!(
        versions == (1..=known).collect::<Vec<_>>(),
        "confab_schema holds {versions:?}, expected 1..={known}"
    );
    // Each migration applied by one node, once.
    let mut applied: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, node) in nodes.iter().enumerate() {
        for line in store.server_stderr(node.start).lines() {
            if !line.contains("applied PostgreSQL schema migration") {
                continue;
            }
            let version = line
                .split("migration=")
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|v| v.parse().ok())
                .with_context(|| format!("no migration=N in {line:?}"))?;
            applied.entry(version).or_default().push(i + 1);
        }
    }
    let once: BTreeMap<i64, Vec<usize>> = (1..=known).map(|v| (v, vec![])).collect();
    ensure!(
        applied.len() == known as usize && applied.values().all(|by| by.len() == 1),
        "migrations applied (version: by nodes): {applied:?}, expected each of {:?} by one node",
        once.keys().collect::<Vec<_>>()
    );
    for node in &mut nodes {
        node.stop().await.context("graceful stop")?;
    }

    // A schema newer than this confab knows: it refuses to start, and says which versions.
    pg_execute(
        &url,
        &format!("INSERT INTO confab_schema (version) VALUES ({NEWER})"),
    )?;
    let (status, stderr) = Server::launch(store, NODE_ARGS, &[])?.exit().await?;
    ensure!(
        !status.success(),
        "confab started on a schema of version {NEWER} ({status}):\n{stderr}"
    );
    let numbers: HashSet<i64> = stderr
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    ensure!(
        numbers.contains(&NEWER) && numbers.contains(&known),
        "confab refused a schema of version {NEWER}, and its message does not name {NEWER} and {known}:\n{stderr}"
    );
    let message = stderr
        .lines()
        .find(|l| l.contains(&NEWER.to_string()))
        .unwrap_or_default()
        .trim()
        .to_string();
    let by: Vec<String> = applied
        .iter()
        .map(|(v, n)| format!("{v} by node{}", n[0]))
        .collect();
    Ok(format!(
        "nodes=3 started at once on an empty database: all up, migrations {} applied once ({}); a schema of version {NEWER}: refused ({status}): {message:?}",
        known,
        by.join(", ")
    ))
}

// ---------------------------------------------------------------------------------------------
// a lapsed claim

/// A claim that lapses while its request is still out (the lease shorter than an attempt takes,
/// the misconfiguration docs/deploy.md warns of): another node may send that one delivery
/// again meanwhile, but once the late attempt ends, the queue must go on one request at a
/// time. The node whose claim lapsed must not touch the queue when it records its attempt: a
/// delivery another node has finished meanwhile is not its to finish, and the claim on the
/// queue is not its to release.
pub async fn lapsed_claim(store: &mut Store, _seed: u64, rounds: usize) -> anyhow::Result<String> {
    const LEASE: &str = "PT2S";
    const LATE_MS: u64 = 3500;
    let receiver = Receiver::holding(0.0, 100..150);
    let cluster = Cluster::start(store, &["--webhook-lease", LEASE]).await?;
    let operator = Api::new(&cluster.balancer.base, OPERATOR_SID, OPERATOR_TOKEN);
    let (mut posts, mut requests, mut duplicates, mut overlapping_late) = (0, 0, 0, 0);
    for round in 0..rounds {
        let account = operator.new_account(&format!("lapsed {round}")).await?;
        let targets = cluster.targets(&account);
        service_webhooks(
            &targets[2].api,
            &format!("{}/service", receiver.base),
            &["onMessageAdded"],
        )
        .await?;
        let conversation = targets[0]
            .api
            .must_post("/v1/Conversations", &[("FriendlyName", "lapsed")])
            .await?["sid"]
            .as_str()
            .context("sid")?
            .to_string();
        let post = async |n: usize| -> anyhow::Result<String> {
            let posted = targets[n % 2]
                .api
                .post_with_headers(
                    &format!("/v1/Conversations/{conversation}/Messages"),
                    &[("Author", "lapsed"), ("Body", &format!("m{n}"))],
                    &[WEBHOOKS],
                )
                .await?;
            Ok(expect(posted, 201, "a post")?["sid"]
                .as_str()
                .context("sid")?
                .to_string())
        };
        // The first delivery is held longer than the lease; the rest queue up behind it, and
        // are still going out when it is answered.
        let before = receiver.received_since(0).len();
        receiver.set_hold(LATE_MS..LATE_MS + 1);
        let mut sids = vec![post(0).await?];
        let started = Instant::now();
        while receiver.in_flight() == 0 {
            ensure!(
                started.elapsed() < Duration::from_secs(30),
                "the first delivery never came"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        receiver.set_hold(100..150);
        for n in 1..40 {
            sids.push(post(n).await?);
        }
        posts += sids.len();
        settle(&receiver, "deliveries", |log| {
            sids.iter()
                .filter(|m| !has(log, "/service", "onMessageAdded", &[("MessageSid", m)]))
                .cloned()
                .collect()
        })
        .await?;
        let log: Vec<Delivery> = receiver.received_since(before);
        let late = log
            .iter()
            .find(|d| {
                d.param("MessageSid") == sids[0]
                    && d.ended - d.began >= Duration::from_millis(LATE_MS)
            })
            .context("the late request is not in the log")?;
        let analysis = deliveries::analyse(&log);
        requests += analysis.requests;
        duplicates += analysis.duplicates;
        // Requests that overlap the late one are its lapse's doing; none other may overlap.
        let mut sorted: Vec<&Delivery> = log.iter().collect();
        sorted.sort_by_key(|d| d.began);
        let mut after: Vec<&Delivery> = sorted
            .into_iter()
            .filter(|d| d.began != late.began)
            .collect();
        after.retain(|d| d.began >= late.ended || d.ended > late.ended);
        let mut problems = Vec::new();
        for pair in after.windows(2) {
            if pair[1].began < pair[0].ended {
                problems.push(format!(
                    "{} (index {}) began {:?} before {} (index {}) was answered, {:?} after the late attempt ended",
                    pair[1].token,
                    pair[1].param("Index"),
                    pair[0].ended - pair[1].began,
                    pair[0].token,
                    pair[0].param("Index"),
                    pair[1].began.saturating_duration_since(late.ended)
                ));
            }
        }
        overlapping_late += problems.len();
        ensure!(
            problems.is_empty(),
            "round {round}: after the attempt whose claim lapsed was answered, requests of the queue overlapped:\n  {}",
            problems.join("\n  ")
        );
        // First deliveries still in index order.
        let firsts: Vec<u64> = deliveries::delivered_events(&log, |_| true)
            .iter()
            .filter_map(|d| d.param("Index").parse().ok())
            .collect();
        ensure!(
            firsts.windows(2).all(|w| w[0] < w[1]),
            "round {round}: first deliveries in the order {firsts:?}"
        );
    }
    Ok(format!(
        "nodes=2, lease {LEASE}, one attempt held {LATE_MS} ms, rounds={rounds}: posts={posts} requests={requests} duplicates={duplicates}; after the late attempt ended: overlapping={overlapping_late}, first deliveries in index order"
    ))
}

// ---------------------------------------------------------------------------------------------
// stream

/// One event of `GET /confab/Events`.
#[derive(Debug, Clone)]
struct StreamEvent {
    id: String,
    name: String,
    data: Value,
}

/// An open event stream on one node, read event by event (heartbeats skipped).
struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    async fn open(api: &Api, query: &str, last_event_id: Option<&str>) -> anyhow::Result<Self> {
        let mut req = reqwest::Client::new()
            .get(format!("{}/confab/Events?{query}", api.base))
            .basic_auth(&api.sid, Some(&api.token));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let response = req.send().await?;
        ensure!(
            response.status() == 200,
            "the stream on {} answered {}",
            api.base,
            response.status()
        );
        Ok(EventStream {
            response,
            buffer: String::new(),
        })
    }

    /// The next event, or `None` if none came within `wait`.
    async fn next(&mut self, wait: Duration) -> anyhow::Result<Option<StreamEvent>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut name, mut data) = (None, None, None);
                for line in block.lines() {
                    match line.split_once(": ") {
                        Some(("id", v)) => id = Some(v.to_string()),
                        Some(("event", v)) => name = Some(v.to_string()),
                        Some(("data", v)) => data = Some(serde_json::from_str(v)?),
                        _ => {}
                    }
                }
                if let (Some(id), Some(name), Some(data)) = (id, name, data) {
                    return Ok(Some(StreamEvent { id, name, data }));
                }
            }
            let Ok(chunk) = tokio::time::timeout_at(deadline, self.response.chunk()).await else {
                return Ok(None);
            };
            let chunk = chunk?.context("the stream ended")?;
            self.buffer.push_str(std::str::from_utf8(&chunk)?);
        }
    }
}

/// Rounds of: writers post messages through node 1 and the balancer while a stream is open
/// on node 2; halfway, the stream is dropped and reopened on node 1 with its `Last-Event-ID`
/// (a client behind a round-robin balancer reconnects to another node). Every answered
/// message must come exactly once, and each conversation's in index order.
pub async fn stream(store: &mut Store, _seed: u64, rounds: usize) -> anyhow::Result<String> {
    let cluster = Cluster::start(store, &[]).await?;
    let operator = Api::new(&cluster.balancer.base, OPERATOR_SID, OPERATOR_TOKEN);
    let mut total = 0;
    for round in 0..rounds {
        let account = operator.new_account(&format!("stream {round}")).await?;
        total += stream_round(&cluster.targets(&account))
            .await
            .with_context(|| format!("round {round}: the event stream across nodes"))?;
    }
    Ok(format!(
        "nodes=2 behind haproxy, rounds={rounds}; {total} messages posted through node1 and haproxy by concurrent writers, each on a stream opened on node2 and resumed on node1 with Last-Event-ID: lost=0 duplicated=0 out_of_order=0"
    ))
}

async fn stream_round(targets: &[Target]) -> anyhow::Result<usize> {
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 20;
    const CONVERSATIONS: usize = 4;
    let expected = WRITERS * PER_WRITER;
    let mut conversations = Vec::new();
    for i in 0..CONVERSATIONS {
        let created = targets[0]
            .api
            .must_post("/v1/Conversations", &[("FriendlyName", &format!("s{i}"))])
            .await?;
        conversations.push(created["sid"].as_str().context("sid")?.to_string());
    }
    let on_node2 = &targets[1].api;
    let mut events = EventStream::open(on_node2, "EventType=onMessageAdded", None).await?;
    // Writers through node 1 and through the balancer (both nodes), each message answered 201.
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let api = targets[if w % 2 == 0 { 0 } else { 2 }].api.clone();
        let conversations = conversations.clone();
        writers.push(tokio::spawn(async move {
            let mut posted = Vec::new();
            for m in 0..PER_WRITER {
                let conversation = &conversations[(w + m) % conversations.len()];
                let body = api
                    .must_post(
                        &format!("/v1/Conversations/{conversation}/Messages"),
                        &[("Body", &format!("w{w} m{m}")), ("Author", "writer")],
                    )
                    .await?;
                posted.push(body["sid"].as_str().context("sid")?.to_string());
            }
            anyhow::Ok(posted)
        }));
    }
    let mut seen: Vec<StreamEvent> = Vec::new();
    let mut switched = false;
    while seen.len() < expected {
        let Some(event) = events.next(Duration::from_secs(20)).await? else {
            bail!(
                "{} of {expected} messages came on the stream; nothing more for 20 s",
                seen.len()
            );
        };
        seen.push(event);
        if !switched && seen.len() == expected / 2 {
            // Reconnect to the other node, from the last id seen there.
            let last = seen.last().map(|e| e.id.clone());
            events =
                EventStream::open(&targets[0].api, "EventType=onMessageAdded", last.as_deref())
                    .await?;
            switched = true;
        }
    }
    let mut answered = HashSet::new();
    for writer in writers {
        answered.extend(writer.await??);
    }
    // Nothing more: no duplicate after the last.
    if let Some(extra) = events.next(Duration::from_millis(500)).await? {
        bail!("an event past every message posted: {extra:?}");
    }
    check_stream(&seen, &answered)?;
    Ok(expected)
}

/// Every answered message exactly once, each conversation's in index order.
fn check_stream(seen: &[StreamEvent], answered: &HashSet<String>) -> anyhow::Result<()> {
    let mut got = HashSet::new();
    let mut last_index: BTreeMap<String, i64> = BTreeMap::new();
    for event in seen {
        ensure!(event.name == "onMessageAdded", "{event:?}");
        let sid = event.data["MessageSid"].as_str().context("MessageSid")?;
        ensure!(got.insert(sid.to_string()), "{sid} came twice");
        let conversation = event.data["ConversationSid"]
            .as_str()
            .context("ConversationSid")?;
        let index: i64 = event.data["Index"].as_str().context("Index")?.parse()?;
        if let Some(before) = last_index.insert(conversation.to_string(), index) {
            ensure!(
                index > before,
                "{conversation}: message {index} came after {before}"
            );
        }
    }
    let lost: Vec<&String> = answered.difference(&got).collect();
    ensure!(
        lost.is_empty(),
        "answered but never on the stream: {lost:?}"
    );
    ensure!(
        got.len() == answered.len(),
        "events for messages nobody posted"
    );
    Ok(())
}
