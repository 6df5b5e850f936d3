//! A simulated power loss. The shim (`shim.c`, loaded into confab with `LD_PRELOAD`) journals
//! every change to the store's files and every sync; after confab is killed, the store is
//! rebuilt as a disk would have it after losing power at that moment: the files as they were
//! before the run, every change a sync covered, and then a random prefix of the changes no sync
//! covered (those that happened to reach the disk), the last of them possibly torn at a 512-byte
//! sector boundary. The -shm (shared memory) is never durable and is left out.
//!
//! Before any of that is trusted, the whole journal replayed (synced or not) must give back the
//! files exactly as the killed process left them in the page cache: a write the shim did not
//! see would show there.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, bail, ensure};
use rand::Rng;
use rand::rngs::StdRng;

use crate::harness::Store;

const SECTOR: u64 = 512;
/// Each sync of a watched file takes up to this much longer (a slow disk): a server that
/// answered before its sync would be killed with its answers out and the sync not done.
const SYNC_DELAY_US: u32 = 3000;
const MAGIC: u32 = 0x314a_4643;

/// Compiles a C file of this directory with the machine's `cc`, into Cargo's scratch directory
/// for tests, named by a hash of its source (compiled under a unique name and renamed, so that
/// test processes running side by side never load a half-written file).
fn compile(source: &str, shared: bool) -> anyhow::Result<PathBuf> {
    use std::hash::{Hash, Hasher};
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/faults/powerloss")
        .join(source);
    let text = std::fs::read(&src).with_context(|| format!("reading {}", src.display()))?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("faults");
    std::fs::create_dir_all(&dir)?;
    let stem = source.trim_end_matches(".c");
    let ext = if shared { ".so" } else { "" };
    let out = dir.join(format!("{stem}-{:016x}{ext}", hasher.finish()));
    if out.exists() {
        return Ok(out);
    }
    let partial = dir.join(format!("{stem}-{}.partial{ext}", std::process::id()));
    let mut cc = Command::new("cc");
    if shared {
        cc.args(["-shared", "-fPIC"]);
    }
    let output = cc
        .args(["-O2", "-Wall", "-o"])
        .arg(&partial)
        .arg(&src)
        .arg("-ldl")
        .output()
        .context("running cc")?;
    ensure!(
        output.status.success(),
        "cc {}: {}",
        src.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::rename(&partial, &out)?;
    Ok(out)
}

/// The shim, built once.
pub fn shim() -> anyhow::Result<PathBuf> {
    static SHIM: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    SHIM.get_or_init(|| compile("shim.c", true).map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

/// The self-test program, built once.
pub fn selftest_program() -> anyhow::Result<PathBuf> {
    static PROGRAM: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PROGRAM
        .get_or_init(|| compile("selftest.c", false).map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

/// The environment that loads the shim into a process, watching `dir` and journaling to
/// `journal`.
pub fn shim_env(dir: &Path, journal: &Path) -> anyhow::Result<Vec<(&'static str, String)>> {
    Ok(vec![
        ("LD_PRELOAD", shim()?.display().to_string()),
        ("CONFAB_SHIM_WATCH", dir.display().to_string()),
        ("CONFAB_SHIM_JOURNAL", journal.display().to_string()),
        ("CONFAB_SHIM_SYNC_DELAY_US", SYNC_DELAY_US.to_string()),
    ])
}

/// A change to a file's contents or size.
#[derive(Clone, Debug)]
pub enum Change {
    Write {
        file: String,
        offset: u64,
        data: Vec<u8>,
    },
    Truncate {
        file: String,
        size: u64,
    },
    Extend {
        file: String,
        size: u64,
    },
    Unlink {
        file: String,
    },
}

impl Change {
    pub fn file(&self) -> &str {
        match self {
            Change::Write { file, .. }
            | Change::Truncate { file, .. }
            | Change::Extend { file, .. }
            | Change::Unlink { file } => file,
        }
    }
}

/// One journal record, as the shim wrote it.
#[derive(Clone, Debug)]
pub enum Rec {
    Change(Change),
    /// Every change to `file` in records `0..upto` is durable.
    Sync {
        file: String,
        upto: u64,
    },
    /// Every change in records `0..upto` is durable.
    SyncAll {
        upto: u64,
    },
    Unsupported {
        file: String,
        what: u64,
    },
    /// A record that changes nothing: a CANCEL or FIXUP, or a change whose call failed.
    Void,
}

/// The shim's journal, read back.
pub struct Journal {
    pub recs: Vec<Rec>,
}

impl Journal {
    pub fn read(path: &Path) -> anyhow::Result<Journal> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let mut recs: Vec<Rec> = Vec::new();
        let mut at = 0usize;
        let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
        let u64_at = |b: &[u8], i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
        // A record cut short is the one the process was writing when it was killed: its call
        // had not been made (the record is written first).
        while at + 32 <= bytes.len() {
            let h = &bytes[at..at + 32];
            ensure!(u32_at(h, 0) == MAGIC, "journal: bad magic at byte {at}");
            let (op, a, b, name_len) = (u32_at(h, 4), u64_at(h, 8), u64_at(h, 16), u32_at(h, 24));
            let name_end = at + 32 + name_len as usize;
            let data_len = if op == 1 { b as usize } else { 0 };
            if name_end + data_len > bytes.len() {
                break;
            }
            let file = String::from_utf8_lossy(&bytes[at + 32..name_end]).into_owned();
            let rec = match op {
                1 => Rec::Change(Change::Write {
                    file,
                    offset: a,
                    data: bytes[name_end..name_end + data_len].to_vec(),
                }),
                2 => Rec::Change(Change::Truncate { file, size: a }),
                3 => Rec::Change(Change::Extend { file, size: a }),
                4 => Rec::Sync { file, upto: a },
                5 => Rec::SyncAll { upto: a },
                6 => Rec::Change(Change::Unlink { file }),
                7 => Rec::Unsupported { file, what: a },
                8 | 9 => {
                    let previous = recs.last_mut().context("journal: CANCEL/FIXUP first")?;
                    match (op, previous) {
                        (8, previous @ Rec::Change(_)) => *previous = Rec::Void,
                        (9, Rec::Change(Change::Write { data, .. })) => data.truncate(a as usize),
                        (_, previous) => bail!("journal: op {op} after {previous:?}"),
                    }
                    Rec::Void
                }
                _ => bail!("journal: unknown op {op} at byte {at}"),
            };
            recs.push(rec);
            at = name_end + data_len;
        }
        Ok(Journal { recs })
    }

    /// Fails if the shim saw something its model cannot represent.
    pub fn supported(&self) -> anyhow::Result<()> {
        for rec in &self.recs {
            if let Rec::Unsupported { file, what } = rec {
                let what = match what {
                    1 => "a write at an unknown position",
                    2 => "pwritev2 with RWF_SYNC/RWF_DSYNC",
                    3 => "fallocate that punches, zeroes or collapses",
                    4 => "a rename",
                    5 => "an open with O_SYNC, O_DSYNC or O_DIRECT",
                    6 => "a shared writable mapping",
                    7 => "copy_file_range, sendfile or splice into it",
                    _ => "something",
                };
                bail!("the shim saw {what} on {file}: the power-loss model does not cover it");
            }
        }
        Ok(())
    }

    /// The indexes of the changes a sync covers, and of those none does (in journal order).
    /// An unlink counts as durable at once (directory entries are not modelled), and a change
    /// to a file that a later unlink removed is dropped.
    pub fn split(&self) -> (Vec<usize>, Vec<usize>) {
        let mut synced: HashMap<&str, u64> = HashMap::new();
        let mut all = 0u64;
        let mut last_unlink: HashMap<&str, usize> = HashMap::new();
        for (i, rec) in self.recs.iter().enumerate() {
            match rec {
                Rec::Sync { file, upto } => {
                    let e = synced.entry(file.as_str()).or_default();
                    *e = (*e).max(*upto);
                }
                Rec::SyncAll { upto } => all = all.max(*upto),
                Rec::Change(Change::Unlink { file }) => {
                    last_unlink.insert(file.as_str(), i);
                }
                _ => {}
            }
        }
        let (mut durable, mut pending) = (Vec::new(), Vec::new());
        for (i, rec) in self.recs.iter().enumerate() {
            let Rec::Change(change) = rec else { continue };
            let file = change.file();
            let upto = synced.get(file).copied().unwrap_or(0).max(all);
            if matches!(change, Change::Unlink { .. }) || (i as u64) < upto {
                durable.push(i);
            } else if last_unlink.get(file).is_none_or(|&u| u < i) {
                pending.push(i);
            }
        }
        (durable, pending)
    }

    fn change(&self, i: usize) -> &Change {
        match &self.recs[i] {
            Rec::Change(c) => c,
            _ => unreachable!("not a change"),
        }
    }

    /// The files after `base`, the durable changes and the first `applied` pending ones, the
    /// last of them cut to `torn` bytes if given.
    pub fn rebuild(&self, base: &Files, applied: usize, torn: Option<usize>) -> Files {
        let (durable, pending) = self.split();
        let mut files = base.clone();
        for &i in &durable {
            apply(&mut files, self.change(i), None);
        }
        for (n, &i) in pending[..applied].iter().enumerate() {
            let cut = if n + 1 == applied { torn } else { None };
            apply(&mut files, self.change(i), cut);
        }
        files
    }

    /// Every change, synced or not: the files as the process left them (without the change
    /// in flight, if `skip_in_flight`).
    pub fn replay_all(&self, base: &Files, skip_in_flight: bool) -> Files {
        let mut files = base.clone();
        let n = self.recs.len() - usize::from(skip_in_flight && self.in_flight().is_some());
        for rec in &self.recs[..n] {
            if let Rec::Change(c) = rec {
                apply(&mut files, c, None);
            }
        }
        files
    }

    /// The change the process may have been making when it was killed: the journal's last
    /// record, if it is a change (any record after a change means its call had returned, since
    /// the shim holds its lock from a change's record to the end of its call).
    fn in_flight(&self) -> Option<&Change> {
        match self.recs.last() {
            Some(Rec::Change(c)) => Some(c),
            _ => None,
        }
    }

    /// Checks that the journal accounts for every byte of the files the killed process left
    /// (in `dir`): replayed in full on `base`, it must give them back. A change in flight may
    /// have been journaled and not (or not wholly) made when the process was killed.
    pub fn check_complete(&self, base: &Files, dir: &Path) -> anyhow::Result<()> {
        let real = read_files(dir)?;
        let all = self.replay_all(base, false);
        if same_files(&all, &real) {
            return Ok(());
        }
        let without_last = self.replay_all(base, true);
        if same_files(&without_last, &real) {
            return Ok(());
        }
        // A write cut short by the kill: the files agree outside its range.
        if let Some(Change::Write { file, offset, data }) = self.in_flight() {
            let (lo, hi) = (*offset as usize, *offset as usize + data.len());
            let others_same = all
                .keys()
                .chain(real.keys())
                .filter(|f| *f != file)
                .all(|f| same(all.get(f), real.get(f)));
            let (a, r) = (
                all.get(file).cloned().unwrap_or_default(),
                real.get(file).cloned().unwrap_or_default(),
            );
            let outside = |x: &[u8]| {
                (
                    x[..lo.min(x.len())].to_vec(),
                    x.get(hi..).map(<[u8]>::to_vec),
                )
            };
            if others_same && r.len() >= lo.min(a.len()) && r.len() <= a.len() {
                let (a_before, a_after) = outside(&a);
                let (r_before, r_after) = outside(&r);
                if a_before == r_before && (r_after.is_none() || r_after == a_after) {
                    return Ok(());
                }
            }
        }
        let mut diffs = Vec::new();
        for f in all.keys().chain(real.keys()) {
            let (a, r) = (all.get(f), real.get(f));
            if !same(a, r) {
                let (a, r) = (a.map_or(&[][..], |v| v), r.map_or(&[][..], |v| v));
                let first = a
                    .iter()
                    .zip(r)
                    .position(|(x, y)| x != y)
                    .unwrap_or(a.len().min(r.len()));
                diffs.push(format!(
                    "{f}: journal gives {} bytes, the file has {}, first difference at byte {first}",
                    a.len(),
                    r.len()
                ));
            }
        }
        diffs.dedup();
        bail!(
            "the shim's journal does not account for the files the process left (a write it did not see?): {}",
            diffs.join("; ")
        )
    }
}

/// A store's files: name to contents.
pub type Files = BTreeMap<String, Vec<u8>>;

/// Absent and empty are the same file to SQLite, and to these checks.
fn same(a: Option<&Vec<u8>>, b: Option<&Vec<u8>>) -> bool {
    a.map_or(&[][..], |v| v) == b.map_or(&[][..], |v| v)
}

fn same_files(a: &Files, b: &Files) -> bool {
    a.keys().chain(b.keys()).all(|f| same(a.get(f), b.get(f)))
}

fn apply(files: &mut Files, change: &Change, torn: Option<usize>) {
    match change {
        Change::Write { file, offset, data } => {
            let data = &data[..torn.unwrap_or(data.len()).min(data.len())];
            let f = files.entry(file.clone()).or_default();
            let end = *offset as usize + data.len();
            if f.len() < end {
                f.resize(end, 0);
            }
            f[*offset as usize..end].copy_from_slice(data);
        }
        Change::Truncate { file, size } => {
            files
                .entry(file.clone())
                .or_default()
                .resize(*size as usize, 0);
        }
        Change::Extend { file, size } => {
            let f = files.entry(file.clone()).or_default();
            if f.len() < *size as usize {
                f.resize(*size as usize, 0);
            }
        }
        Change::Unlink { file } => {
            files.remove(file);
        }
    }
}

/// The watched files of `dir` (all but the -shm).
pub fn read_files(dir: &Path) -> anyhow::Result<Files> {
    let mut files = Files::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_file() && !name.ends_with("-shm") {
            files.insert(name, std::fs::read(entry.path())?);
        }
    }
    Ok(files)
}

/// Replaces everything in `dir` (the -shm included) with `files`.
pub fn write_files(dir: &Path, files: &Files) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        std::fs::remove_file(entry?.path())?;
    }
    for (name, data) in files {
        std::fs::write(dir.join(name), data)?;
    }
    Ok(())
}

/// A killed run's journal, checked, and the files it started from: the power losses it can
/// be turned into.
pub struct Crashed {
    journal: Journal,
    base: Files,
}

impl Crashed {
    /// Replaces the store's files with what a power loss leaves when nothing unsynced had
    /// reached the disk: the strictest case for answered writes.
    pub fn lose_all_unsynced(&self, store: &Store) -> anyhow::Result<Rebuilt> {
        let (_, pending) = self.journal.split();
        write_files(
            &store.files_dir(),
            &self.journal.rebuild(&self.base, 0, None),
        )?;
        Ok(Rebuilt {
            records: self.journal.recs.len(),
            pending: pending.len(),
            ..Default::default()
        })
    }

    /// Replaces the store's files with what a power loss could leave (chosen with `rng`): half
    /// the time a random prefix of the unsynced changes reached the disk, the last one torn
    /// half of those times; the other half, everything up to a write into the WAL, torn.
    pub fn lose_power(&self, store: &Store, rng: &mut StdRng) -> anyhow::Result<Rebuilt> {
        let journal = &self.journal;
        let (_, pending) = journal.split();
        let wal_writes: Vec<usize> = pending
            .iter()
            .enumerate()
            .filter(|(_, i)| {
                matches!(journal.change(**i), Change::Write { file, .. } if file.ends_with("-wal"))
            })
            .map(|(n, _)| n + 1)
            .collect();
        let (applied, tear) = if rng.random_bool(0.5) || wal_writes.is_empty() {
            (rng.random_range(0..=pending.len()), rng.random_bool(0.5))
        } else {
            (wal_writes[rng.random_range(0..wal_writes.len())], true)
        };
        let mut rebuilt = Rebuilt {
            records: journal.recs.len(),
            pending: pending.len(),
            applied,
            ..Default::default()
        };
        let mut torn = None;
        if tear
            && applied > 0
            && let Change::Write { file, offset, data } = journal.change(pending[applied - 1])
        {
            // A cut at a sector boundary strictly inside the write.
            let first = offset / SECTOR + 1;
            let last = (offset + data.len() as u64).div_ceil(SECTOR) - 1;
            if first <= last {
                let cut = rng.random_range(first..=last) * SECTOR;
                torn = Some((cut - offset) as usize);
                rebuilt.torn = true;
                rebuilt.torn_wal = file.ends_with("-wal");
            }
        }
        write_files(
            &store.files_dir(),
            &journal.rebuild(&self.base, applied, torn),
        )?;
        Ok(rebuilt)
    }
}

/// How a power loss was rebuilt.
#[derive(Default, Debug, Clone, Copy)]
pub struct Rebuilt {
    pub records: usize,
    pub pending: usize,
    pub applied: usize,
    /// The last applied change was a write cut at a sector boundary...
    pub torn: bool,
    /// ...into the WAL.
    pub torn_wal: bool,
}

/// One power-loss round on a store: its files before the run (the disk as the last clean
/// state left it), and the shim's journal of the run.
pub struct PowerLoss {
    state: PathBuf,
    base: Files,
}

impl PowerLoss {
    /// Takes the store's files as they are now (no server running) as the disk's contents.
    pub fn prepare(store: &Store, round: usize) -> anyhow::Result<PowerLoss> {
        let state = store.scratch().join(format!("powerloss-{round}"));
        std::fs::create_dir_all(&state)?;
        let base = read_files(&store.files_dir())?;
        // Kept beside the journal, to replay a failing round by hand.
        std::fs::create_dir_all(state.join("base"))?;
        write_files(&state.join("base"), &base)?;
        Ok(PowerLoss { state, base })
    }

    fn journal(&self) -> PathBuf {
        self.state.join("journal")
    }

    /// The environment that loads the shim into confab.
    pub fn env(&self, store: &Store) -> anyhow::Result<Vec<(&'static str, String)>> {
        shim_env(&store.files_dir(), &self.journal())
    }

    /// After the kill: reads the journal and checks it against the files the process left.
    pub fn after_kill(self, store: &Store) -> anyhow::Result<Crashed> {
        let journal = Journal::read(&self.journal())?;
        journal.supported()?;
        journal.check_complete(&self.base, &store.files_dir())?;
        Ok(Crashed {
            journal,
            base: self.base,
        })
    }

    /// Drops a passing round's journal and base (they can be large).
    pub fn discard(store: &Store, round: usize) -> anyhow::Result<()> {
        Ok(std::fs::remove_dir_all(
            store.scratch().join(format!("powerloss-{round}")),
        )?)
    }
}
