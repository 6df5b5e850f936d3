//! After a restart: is every answered write there, as it was answered? Are message indexes
//! dense? Is there anything nobody wrote? Then the unanswered writes are resolved (they
//! happened or they did not, and must stay so), and the next message of every conversation must
//! take the next index.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::workload::{Op, Outcome, Record, RoundModel, SETUP, tag_of};

/// Whether answered writes may be missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Every answered write must be there (kill -9; a power loss with `--durability disk`).
    Forbidden,
    /// Answered writes may be missing (a power loss with `--durability process`): they are
    /// counted, the rest must still be consistent.
    Counted,
}

/// What a check found.
#[derive(Default, Debug)]
pub struct Verdict {
    /// Broken promises and inconsistencies: any one fails the test.
    pub errors: Vec<String>,
    /// Answered writes not found.
    pub lost: Vec<String>,
    /// Unanswered writes that happened.
    pub present_unacked: usize,
    /// Conversations and their message counts, as found.
    pub messages: BTreeMap<String, u64>,
    /// What the unanswered (and lost) writes turned out to be, to resolve the model.
    resolutions: Vec<(usize, Outcome)>,
}

impl Verdict {
    fn error(&mut self, e: String) {
        self.errors.push(e);
    }

    /// An error unless losses are counted (then the loss is counted at the end of `check`,
    /// with the answered writes of conversations that are gone).
    fn lost(&mut self, loss: Loss, what: String) {
        if loss == Loss::Forbidden {
            self.errors.push(format!("lost: {what}"));
        }
    }
}

#[derive(Debug)]
struct Conversation {
    friendly_name: Option<String>,
    unique_name: Option<String>,
    attributes: Value,
    /// (index, sid, body), in index order.
    messages: Vec<(u64, String, String)>,
    /// (sid, identity)
    participants: Vec<(String, String)>,
}

/// Everything the round's account holds now.
async fn observe(model: &RoundModel) -> anyhow::Result<BTreeMap<String, Conversation>> {
    let api = &model.api;
    let mut found = BTreeMap::new();
    for c in api
        .collect("/v1/Conversations?PageSize=100", "conversations")
        .await?
    {
        let sid = c["sid"].as_str().context("conversation sid")?.to_string();
        let mut messages = Vec::new();
        for m in api
            .collect(
                &format!("/v1/Conversations/{sid}/Messages?PageSize=100"),
                "messages",
            )
            .await?
        {
            messages.push((
                m["index"].as_u64().context("index")?,
                m["sid"].as_str().context("message sid")?.to_string(),
                m["body"].as_str().unwrap_or_default().to_string(),
            ));
        }
        messages.sort();
        let mut participants = Vec::new();
        for p in api
            .collect(
                &format!("/v1/Conversations/{sid}/Participants?PageSize=100"),
                "participants",
            )
            .await?
        {
            participants.push((
                p["sid"].as_str().context("participant sid")?.to_string(),
                p["identity"].as_str().unwrap_or_default().to_string(),
            ));
        }
        let conversation = Conversation {
            friendly_name: c["friendly_name"].as_str().map(str::to_string),
            unique_name: c["unique_name"].as_str().map(str::to_string),
            attributes: json_text(&c["attributes"]),
            messages,
            participants,
        };
        if found.insert(sid.clone(), conversation).is_some() {
            bail!("conversation {sid} listed twice");
        }
    }
    Ok(found)
}

/// A resource's `attributes` (JSON text) as a value, to compare without regard to spacing.
fn json_text(v: &Value) -> Value {
    v.as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null)
}

/// Checks the round's account against its model. Fails (an `Err`) only when the server could
/// not be read; what it finds is in the verdict.
pub async fn check(model: &RoundModel, loss: Loss) -> anyhow::Result<Verdict> {
    let found = observe(model).await?;
    let mut v = Verdict::default();
    let records = &model.records;

    // Conversations: every answered create is there with what it was created with; an
    // unanswered one may be; nothing else is.
    let mut claimed: HashSet<&str> = HashSet::new();
    let by_tag: HashMap<&str, &str> = found
        .iter()
        .filter_map(|(sid, c)| Some((c.friendly_name.as_deref()?, sid.as_str())))
        .collect();
    let by_unique: HashMap<&str, &str> = found
        .iter()
        .filter_map(|(sid, c)| Some((c.unique_name.as_deref()?, sid.as_str())))
        .collect();
    for (i, r) in records.iter().enumerate() {
        let Op::CreateConversation {
            tag, unique_name, ..
        } = &r.op
        else {
            continue;
        };
        match &r.outcome {
            Outcome::Acked { sid, .. } => match found.get(sid) {
                Some(c) => {
                    claimed.insert(sid);
                    if c.unique_name != *unique_name {
                        v.error(format!(
                            "conversation {sid} ({tag}): unique_name {:?}, answered {unique_name:?}",
                            c.unique_name
                        ));
                    }
                }
                None => v.lost(loss, format!("conversation {sid} ({tag})")),
            },
            outcome => {
                let present = unique_name
                    .as_deref()
                    .and_then(|u| by_unique.get(u))
                    .or_else(|| by_tag.get(tag.as_str()))
                    .copied();
                match (outcome, present) {
                    (Outcome::Unknown, Some(sid)) => {
                        claimed.insert(sid);
                        v.present_unacked += 1;
                        v.resolutions.push((
                            i,
                            Outcome::Acked {
                                sid: sid.to_string(),
                                index: None,
                            },
                        ));
                    }
                    (Outcome::Unknown, None) => v.resolutions.push((i, Outcome::Absent)),
                    (_, Some(sid)) => v.error(format!(
                        "conversation {tag} ({sid}) appeared after it was found {outcome:?}"
                    )),
                    (_, None) => {}
                }
            }
        }
    }
    for (sid, c) in &found {
        if !claimed.contains(sid.as_str()) {
            v.error(format!(
                "conversation {sid} ({:?}) is there, and nobody created it",
                c.friendly_name
            ));
        }
    }

    // Each conversation's FriendlyName and Attributes: its last answered value, or the value of
    // a later unanswered update (each conversation is updated by its one writer, in order).
    let mut values: HashMap<&str, Vec<(usize, &str, Value, &Outcome)>> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        match (&r.op, &r.outcome) {
            (
                Op::CreateConversation {
                    tag, attributes, ..
                },
                Outcome::Acked { sid, .. },
            ) => values.entry(sid.as_str()).or_default().push((
                i,
                tag.as_str(),
                json_text(&Value::String(attributes.clone())),
                &r.outcome,
            )),
            (
                Op::UpdateConversation {
                    conversation,
                    friendly_name,
                    attributes,
                },
                outcome,
            ) => values.entry(conversation.as_str()).or_default().push((
                i,
                friendly_name.as_str(),
                json_text(&Value::String(attributes.clone())),
                outcome,
            )),
            _ => {}
        }
    }
    for (sid, history) in &values {
        let Some(c) = found.get(*sid) else {
            continue; // reported above
        };
        let now = (c.friendly_name.as_deref(), &c.attributes);
        let Some(last) = history
            .iter()
            .rposition(|(_, _, _, o)| matches!(o, Outcome::Acked { .. }))
        else {
            v.error(format!(
                "conversation {sid}: no answered value in the model"
            ));
            continue;
        };
        let is = |(_, name, attrs, _): &(usize, &str, Value, &Outcome)| now == (Some(*name), attrs);
        if is(&history[last]) {
            for (i, _, _, o) in &history[last + 1..] {
                if **o == Outcome::Unknown {
                    v.resolutions.push((*i, Outcome::Absent));
                }
            }
        } else if let Some(k) = (last + 1..history.len())
            .find(|&k| *history[k].3 == Outcome::Unknown && is(&history[k]))
        {
            v.present_unacked += 1;
            for (j, (i, _, _, o)) in history.iter().enumerate().skip(last + 1) {
                if **o == Outcome::Unknown {
                    let resolved = if j == k {
                        Outcome::Acked {
                            sid: sid.to_string(),
                            index: None,
                        }
                    } else {
                        Outcome::Absent
                    };
                    v.resolutions.push((*i, resolved));
                }
            }
        } else if let Some(k) = (0..last)
            .rev()
            .find(|&k| matches!(history[k].3, Outcome::Acked { .. }) && is(&history[k]))
            && loss == Loss::Counted
        {
            // An earlier answered value: the later answered updates were lost.
            for (i, name, _, o) in &history[k + 1..] {
                match o {
                    Outcome::Acked { .. } => {
                        v.lost.push(format!("update of {sid} to {name}"));
                        v.resolutions.push((*i, Outcome::Lost));
                    }
                    Outcome::Unknown => v.resolutions.push((*i, Outcome::Absent)),
                    _ => {}
                }
            }
        } else {
            v.error(format!(
                "conversation {sid}: friendly_name/attributes {now:?}, answered last {:?} {}",
                history[last].1, history[last].2
            ));
        }
    }

    // Messages: indexes 0..n, each answered message there with the index it was answered with,
    // each unanswered one there or not, nothing else.
    let mut posts: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        if let Op::PostMessage { conversation, .. } = &r.op {
            posts.entry(conversation.as_str()).or_default().push(i);
        }
    }
    for (sid, c) in &found {
        v.messages.insert(sid.clone(), c.messages.len() as u64);
        let indexes: Vec<u64> = c.messages.iter().map(|m| m.0).collect();
        if indexes
            .iter()
            .enumerate()
            .any(|(i, &index)| index != i as u64)
        {
            v.error(format!(
                "conversation {sid}: message indexes are not 0..{}: {}",
                indexes.len(),
                compact(&indexes)
            ));
        }
        let by_sid: HashMap<&str, &(u64, String, String)> =
            c.messages.iter().map(|m| (m.1.as_str(), m)).collect();
        let by_msg_tag: HashMap<&str, &(u64, String, String)> =
            c.messages.iter().map(|m| (tag_of(&m.2), m)).collect();
        if by_sid.len() != c.messages.len() || by_msg_tag.len() != c.messages.len() {
            v.error(format!(
                "conversation {sid}: a message SID or tag appears twice"
            ));
        }
        let mut accounted: HashSet<&str> = HashSet::new();
        for &i in posts.get(sid.as_str()).into_iter().flatten() {
            let Op::PostMessage { body, .. } = &records[i].op else {
                unreachable!()
            };
            let tag = tag_of(body);
            match &records[i].outcome {
                Outcome::Acked { sid: m, index } => match by_sid.get(m.as_str()) {
                    Some(found) => {
                        accounted.insert(m);
                        if Some(found.0) != *index || found.2 != *body {
                            v.error(format!(
                                "message {m} in {sid}: index {} body {:?}, answered index {index:?} body {:?}",
                                found.0,
                                tag_of(&found.2),
                                tag
                            ));
                        }
                    }
                    None => v.lost(
                        loss,
                        format!("message {m} ({tag}, index {index:?}) in {sid}"),
                    ),
                },
                outcome => match (outcome, by_msg_tag.get(tag)) {
                    (Outcome::Unknown, Some(found)) => {
                        accounted.insert(&found.1);
                        v.present_unacked += 1;
                        v.resolutions.push((
                            i,
                            Outcome::Acked {
                                sid: found.1.clone(),
                                index: Some(found.0),
                            },
                        ));
                    }
                    (Outcome::Unknown, None) => v.resolutions.push((i, Outcome::Absent)),
                    (_, Some(found)) => v.error(format!(
                        "message {tag} ({}) in {sid} appeared after it was found {outcome:?}",
                        found.1
                    )),
                    (_, None) => {}
                },
            }
        }
        for m in &c.messages {
            if !accounted.contains(m.1.as_str()) {
                v.error(format!(
                    "message {} (index {}, {:?}) in {sid} is there, and nobody posted it there",
                    m.1,
                    m.0,
                    tag_of(&m.2)
                ));
            }
        }
    }

    // Participants: as messages, by SID and identity.
    let mut adds: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        if let Op::AddParticipant { conversation, .. } = &r.op {
            adds.entry(conversation.as_str()).or_default().push(i);
        }
    }
    for (sid, c) in &found {
        let by_sid: HashMap<&str, &str> = c
            .participants
            .iter()
            .map(|(p, identity)| (p.as_str(), identity.as_str()))
            .collect();
        let by_identity: HashMap<&str, &str> = c
            .participants
            .iter()
            .map(|(p, identity)| (identity.as_str(), p.as_str()))
            .collect();
        let mut accounted: HashSet<&str> = HashSet::new();
        for &i in adds.get(sid.as_str()).into_iter().flatten() {
            let Op::AddParticipant { identity, .. } = &records[i].op else {
                unreachable!()
            };
            match &records[i].outcome {
                Outcome::Acked { sid: p, .. } => match by_sid.get(p.as_str()) {
                    Some(found) => {
                        accounted.insert(p);
                        if found != identity {
                            v.error(format!(
                                "participant {p} in {sid}: identity {found}, answered {identity}"
                            ));
                        }
                    }
                    None => v.lost(loss, format!("participant {p} ({identity}) in {sid}")),
                },
                outcome => match (outcome, by_identity.get(identity.as_str())) {
                    (Outcome::Unknown, Some(p)) => {
                        accounted.insert(p);
                        v.present_unacked += 1;
                        v.resolutions.push((
                            i,
                            Outcome::Acked {
                                sid: p.to_string(),
                                index: None,
                            },
                        ));
                    }
                    (Outcome::Unknown, None) => v.resolutions.push((i, Outcome::Absent)),
                    (_, Some(p)) => v.error(format!(
                        "participant {identity} ({p}) in {sid} appeared after it was found {outcome:?}"
                    )),
                    (_, None) => {}
                },
            }
        }
        for (p, identity) in &c.participants {
            if !accounted.contains(p.as_str()) {
                v.error(format!(
                    "participant {p} ({identity}) in {sid} is there, and nobody added it"
                ));
            }
        }
    }

    // Writes into conversations that are gone: unanswered ones did not happen.
    for (i, r) in records.iter().enumerate() {
        let conversation = match &r.op {
            Op::PostMessage { conversation, .. }
            | Op::AddParticipant { conversation, .. }
            | Op::UpdateConversation { conversation, .. } => conversation,
            Op::CreateConversation { .. } => continue,
        };
        if r.outcome == Outcome::Unknown && !found.contains_key(conversation) {
            v.resolutions.push((i, Outcome::Absent));
        }
    }

    // Answered writes lost (counted, with `Loss::Counted`) are resolved as lost.
    if loss == Loss::Counted {
        for (i, r) in records.iter().enumerate() {
            let Outcome::Acked { sid, .. } = &r.outcome else {
                continue;
            };
            let gone = match &r.op {
                Op::CreateConversation { .. } => !found.contains_key(sid),
                Op::PostMessage { conversation, .. } => found
                    .get(conversation)
                    .is_none_or(|c| !c.messages.iter().any(|m| m.1 == *sid)),
                Op::AddParticipant { conversation, .. } => found
                    .get(conversation)
                    .is_none_or(|c| !c.participants.iter().any(|p| p.0 == *sid)),
                // Otherwise resolved with the values above.
                Op::UpdateConversation { conversation, .. } => !found.contains_key(conversation),
            };
            if gone {
                v.lost.push(format!("{:?} answered {sid}", r.op));
                v.resolutions.push((i, Outcome::Lost));
            }
        }
    }

    // Each answered conversation fetched by its SID, and by its unique name.
    for r in records {
        if let (
            Op::CreateConversation {
                tag, unique_name, ..
            },
            Outcome::Acked { sid, .. },
        ) = (&r.op, &r.outcome)
        {
            if !found.contains_key(sid) {
                continue;
            }
            let fetched = model.api.get(&format!("/v1/Conversations/{sid}")).await?;
            if fetched.status != 200 || fetched.body["sid"] != *sid {
                v.error(format!(
                    "conversation {sid} ({tag}) is listed, and GET by SID answers {} {}",
                    fetched.status, fetched.body
                ));
            }
            if let Some(u) = unique_name {
                let fetched = model.api.get(&format!("/v1/Conversations/{u}")).await?;
                if fetched.status != 200 || fetched.body["sid"] != *sid {
                    v.error(format!(
                        "conversation {sid}: GET by unique name {u} answers {} {}",
                        fetched.status, fetched.body
                    ));
                }
            }
        }
    }
    Ok(v)
}

/// Records what the check found the unanswered (and lost) writes to be.
pub fn resolve(model: &mut RoundModel, verdict: &Verdict) {
    for (i, outcome) in &verdict.resolutions {
        model.records[*i].outcome = outcome.clone();
    }
}

/// Posts one message into every conversation found: each must take the next index (the count
/// found). The messages join the model as answered writes.
pub async fn next_index(model: &mut RoundModel, verdict: &Verdict) -> anyhow::Result<()> {
    for (k, (sid, count)) in verdict.messages.iter().enumerate() {
        let body = format!(
            "r{}.next{k}.{} after a restart",
            model.round,
            model.records.len()
        );
        let answer = model
            .api
            .post(
                &format!("/v1/Conversations/{sid}/Messages"),
                &[("Author", "checker"), ("Body", &body)],
            )
            .await?;
        if answer.status != 201 {
            bail!(
                "posting into {sid} after a restart: {} {}",
                answer.status,
                answer.body
            );
        }
        let index = answer.body["index"].as_u64();
        if index != Some(*count) {
            bail!(
                "the next message in {sid} took index {index:?}: {count} messages are there, so {count} was next"
            );
        }
        model.records.push(Record {
            writer: SETUP,
            op: Op::PostMessage {
                conversation: sid.clone(),
                body,
            },
            outcome: Outcome::Acked {
                sid: answer.str("sid")?,
                index,
            },
        });
    }
    Ok(())
}

/// Indexes as ranges, for a message: `0-41,43-50`.
fn compact(indexes: &[u64]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < indexes.len() {
        let mut j = i;
        while j + 1 < indexes.len() && indexes[j + 1] == indexes[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            indexes[i].to_string()
        } else {
            format!("{}-{}", indexes[i], indexes[j])
        });
        i = j + 1;
    }
    out.join(",")
}

/// The verdict as an error, if it has errors (or any loss where none is allowed).
pub fn verdict_result(verdict: &Verdict, what: &str) -> anyhow::Result<()> {
    if verdict.errors.is_empty() {
        return Ok(());
    }
    let shown: Vec<&String> = verdict.errors.iter().take(20).collect();
    bail!(
        "{what}: {} problems:\n  {}",
        verdict.errors.len(),
        shown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    )
}
