//! The render cache: kustomize outputs kept under a key made from everything the build reads,
//! so a render that was made once (usually the base side of a PR, built as the head of an earlier
//! run) is read back instead of built again.
//!
//! Layout of the cache directory:
//! - `renders/ab/cdef…`: one entry per key. A header line
//!   `gitops-promote render v1 <checksum> <milliseconds>` then the render. The checksum (the
//!   render's SHA-256) catches a truncated or altered entry, which is then ignored and
//!   written again after the build. Entries are written to a temporary file and renamed into place,
//!   so a reader never sees half an entry, and two runs writing one key write the same bytes.
//! - `times.json`: how long each overlay took to build in the last run that built it, which
//!   shards use to balance their work.
//!
//! A hit touches the entry's modification time; eviction removes the least recently used entries
//! until the cache fits its size cap.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const HEADER: &str = "gitops-promote render v1";
const RENDERS: &str = "renders";
const TIMES: &str = "times.json";

/// Where the cache lives and how big it may grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    pub dir: PathBuf,
    pub max_bytes: u64,
}

/// The default size cap: enough for thousands of renders, small next to a runner's disk and the
/// 10 GB a repository gets from `actions/cache`.
pub const DEFAULT_MAX_BYTES: u64 = 512 * 1024 * 1024;

/// What the cache did in one run; shown in the report's statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheStats {
    /// Renders read from the cache instead of built.
    pub hits: usize,
    /// Renders built because the cache had no entry for them.
    pub misses: usize,
    /// Entries found damaged, ignored and written again.
    pub corrupt: usize,
    /// Builds that cannot be cached: their inputs are not all in the repository (remote bases,
    /// a kustomization that does not parse, a symlink, or build args that let the build run
    /// programs or read outside its tree).
    pub uncacheable: usize,
    /// Entries written.
    pub written: usize,
    /// Entries removed to keep the cache under its size cap.
    pub evicted: usize,
}

impl CacheStats {
    pub fn add(&mut self, other: &CacheStats) {
        self.hits += other.hits;
        self.misses += other.misses;
        self.corrupt += other.corrupt;
        self.uncacheable += other.uncacheable;
        self.written += other.written;
        self.evicted += other.evicted;
    }
}

/// One line for a log or a report: what was read back, built and kept.
impl std::fmt::Display for CacheStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} read from the cache, {} built and {} stored, {} evicted",
            self.hits, self.misses, self.written, self.evicted
        )?;
        if self.uncacheable > 0 {
            write!(
                f,
                ", {} not cacheable (remote bases, unparseable kustomizations, symlinks or \
                 privileged build args)",
                self.uncacheable
            )?;
        }
        if self.corrupt > 0 {
            write!(f, ", {} damaged entries built again", self.corrupt)?;
        }
        Ok(())
    }
}

/// Why the cache directory cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("render cache {dir}: {action}: {source}")]
pub struct CacheError {
    dir: String,
    action: &'static str,
    source: std::io::Error,
}

/// A cache key: the hash of everything one build reads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(String);

impl Key {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Collects what one build reads; `finish` hashes it into a key. Every part is written with its
/// length, so two different lists of parts never run together into the same bytes.
#[derive(Debug, Clone, Default)]
pub struct KeyBuilder {
    bytes: Vec<u8>,
}

impl KeyBuilder {
    pub fn new() -> KeyBuilder {
        let mut builder = KeyBuilder::default();
        builder.part(HEADER.as_bytes());
        builder
    }

    pub fn part(&mut self, bytes: &[u8]) -> &mut KeyBuilder {
        self.bytes
            .extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        self.bytes.extend_from_slice(bytes);
        self
    }

    pub fn finish(&self) -> Key {
        Key(hash(&self.bytes))
    }
}

/// The SHA-256 of `bytes`, as hex.
fn hash(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// The SHA-256 of a file's content, read in pieces: the kustomize binary, which identifies the
/// kustomize version in every key, is tens of megabytes.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut file, &mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// What a lookup found.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The render and how long it took to build.
    Hit(String, Duration),
    Miss,
    /// An entry that is not what was written: why.
    Corrupt(String),
}

/// An open cache directory.
#[derive(Debug, Clone)]
pub struct RenderCache {
    settings: CacheSettings,
}

impl RenderCache {
    /// Opens (creating) the cache directory.
    pub fn open(settings: CacheSettings) -> Result<RenderCache, CacheError> {
        let renders = settings.dir.join(RENDERS);
        std::fs::create_dir_all(&renders).map_err(|source| CacheError {
            dir: settings.dir.display().to_string(),
            action: "creating the directory",
            source,
        })?;
        Ok(RenderCache { settings })
    }

    pub fn dir(&self) -> &Path {
        &self.settings.dir
    }

    fn path(&self, key: &Key) -> PathBuf {
        let (prefix, rest) = key.0.split_at(2.min(key.0.len()));
        self.settings.dir.join(RENDERS).join(prefix).join(rest)
    }

    /// The render stored under `key`, if an intact one is there.
    pub fn get(&self, key: &Key) -> Lookup {
        let path = self.path(key);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Lookup::Miss,
            Err(e) => return Lookup::Corrupt(format!("{}: {e}", path.display())),
        };
        match parse_entry(&bytes) {
            Ok((render, took)) => {
                // Most recently used, for eviction. A cache on a read-only disk still serves.
                let _ = std::fs::File::options()
                    .append(true)
                    .open(&path)
                    .and_then(|f| f.set_modified(SystemTime::now()));
                Lookup::Hit(render, took)
            }
            Err(reason) => Lookup::Corrupt(format!("{}: {reason}", path.display())),
        }
    }

    /// Stores `render` under `key`, replacing whatever is there, atomically.
    pub fn put(&self, key: &Key, render: &str, took: Duration) -> std::io::Result<()> {
        let path = self.path(key);
        let dir = path
            .parent()
            .expect("an entry is inside the renders directory");
        std::fs::create_dir_all(dir)?;
        let mut file = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
        write!(
            file,
            "{HEADER} {} {}\n{render}",
            hash(render.as_bytes()),
            took.as_millis()
        )?;
        file.as_file().sync_data()?;
        file.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }

    /// Removes the least recently used entries until the cache fits its cap, and any temporary
    /// file a killed run left. Returns how many entries went.
    pub fn evict(&self) -> std::io::Result<usize> {
        let mut entries = Vec::new();
        let renders = self.settings.dir.join(RENDERS);
        for sub in std::fs::read_dir(&renders)? {
            let sub = sub?;
            if !sub.file_type()?.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(sub.path())? {
                let entry = entry?;
                let meta = entry.metadata()?;
                let stale_temp = entry.file_name().to_string_lossy().starts_with(".tmp-")
                    && meta
                        .modified()
                        .ok()
                        .and_then(|m| m.elapsed().ok())
                        .is_some_and(|age| age > Duration::from_secs(3600));
                if stale_temp {
                    let _ = std::fs::remove_file(entry.path());
                    continue;
                }
                let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                entries.push((modified, meta.len(), entry.path()));
            }
        }
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        if total <= self.settings.max_bytes {
            return Ok(0);
        }
        // Oldest first; the path breaks ties so eviction does not depend on directory order.
        entries.sort();
        let mut evicted = 0;
        for (_, len, path) in entries {
            if total <= self.settings.max_bytes {
                break;
            }
            std::fs::remove_file(&path)?;
            total -= len;
            evicted += 1;
        }
        Ok(evicted)
    }

    /// Each overlay's build time from the runs before, by overlay (or application) name.
    /// A missing or unreadable file is no times at all.
    pub fn times(&self) -> BTreeMap<String, f64> {
        std::fs::read(self.settings.dir.join(TIMES))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Times>(&bytes).ok())
            .map(|t| t.overlays)
            .unwrap_or_default()
    }

    /// Records `times` over the ones kept, atomically.
    pub fn record_times(&self, times: &BTreeMap<String, f64>) -> std::io::Result<()> {
        if times.is_empty() {
            return Ok(());
        }
        let mut all = self.times();
        all.extend(times.iter().map(|(k, v)| (k.clone(), *v)));
        let mut file = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.settings.dir)?;
        serde_json::to_writer(&mut file, &Times { overlays: all })?;
        file.persist(self.settings.dir.join(TIMES))
            .map_err(|e| e.error)?;
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
struct Times {
    overlays: BTreeMap<String, f64>,
}

fn parse_entry(bytes: &[u8]) -> Result<(String, Duration), String> {
    let newline = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("no header line")?;
    let header = std::str::from_utf8(&bytes[..newline]).map_err(|_| "the header is not text")?;
    let fields = header
        .strip_prefix(HEADER)
        .ok_or("not a render entry of this version")?;
    let mut fields = fields.split_whitespace();
    let (Some(checksum), Some(millis), None) = (fields.next(), fields.next(), fields.next()) else {
        return Err("the header is malformed".to_string());
    };
    let millis: u64 = millis
        .parse()
        .map_err(|_| "the header's build time is not a number")?;
    let body = &bytes[newline + 1..];
    if hash(body) != checksum {
        return Err("its checksum does not match (truncated or altered)".to_string());
    }
    let render = String::from_utf8(body.to_vec()).map_err(|_| "the render is not UTF-8")?;
    Ok((render, Duration::from_millis(millis)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(max_bytes: u64) -> (tempfile::TempDir, RenderCache) {
        let dir = tempfile::tempdir().unwrap();
        let cache = RenderCache::open(CacheSettings {
            dir: dir.path().join("cache"),
            max_bytes,
        })
        .unwrap();
        (dir, cache)
    }

    fn key(text: &str) -> Key {
        KeyBuilder::new().part(text.as_bytes()).finish()
    }

    #[test]
    fn a_stored_render_reads_back_with_its_build_time() {
        let (_dir, cache) = cache(DEFAULT_MAX_BYTES);
        let k = key("overlays/a");
        assert_eq!(cache.get(&k), Lookup::Miss);
        cache
            .put(&k, "kind: ConfigMap\n", Duration::from_millis(1234))
            .unwrap();
        assert_eq!(
            cache.get(&k),
            Lookup::Hit("kind: ConfigMap\n".into(), Duration::from_millis(1234))
        );
        assert_eq!(cache.get(&key("overlays/b")), Lookup::Miss);
    }

    #[test]
    fn parts_are_delimited() {
        let ab = KeyBuilder::new().part(b"a").part(b"bc").finish();
        let abc = KeyBuilder::new().part(b"ab").part(b"c").finish();
        assert_ne!(ab, abc);
        assert_eq!(ab, KeyBuilder::new().part(b"a").part(b"bc").finish());
    }

    #[test]
    fn a_damaged_entry_is_reported_and_a_put_repairs_it() {
        let (_dir, cache) = cache(DEFAULT_MAX_BYTES);
        let k = key("overlays/a");
        cache
            .put(&k, "kind: ConfigMap\nmetadata: {name: a}\n", Duration::ZERO)
            .unwrap();
        let path = cache.path(&k);
        let whole = std::fs::read(&path).unwrap();
        std::fs::write(&path, &whole[..whole.len() - 5]).unwrap();
        let Lookup::Corrupt(reason) = cache.get(&k) else {
            panic!("a truncated entry must not be a hit");
        };
        assert!(reason.contains("checksum"), "{reason}");
        std::fs::write(&path, b"garbage").unwrap();
        assert!(matches!(cache.get(&k), Lookup::Corrupt(r) if r.contains("header")));
        cache.put(&k, "fixed\n", Duration::ZERO).unwrap();
        assert_eq!(cache.get(&k), Lookup::Hit("fixed\n".into(), Duration::ZERO));
    }

    #[test]
    fn eviction_keeps_the_most_recently_used_under_the_cap() {
        let render = "x".repeat(1000);
        let (_dir, cache) = cache(2500);
        let keys: Vec<Key> = (0..4).map(|i| key(&i.to_string())).collect();
        let old = SystemTime::now() - Duration::from_secs(100);
        for (i, k) in keys.iter().enumerate() {
            cache.put(k, &render, Duration::ZERO).unwrap();
            std::fs::File::options()
                .append(true)
                .open(cache.path(k))
                .unwrap()
                .set_modified(old + Duration::from_secs(i as u64))
                .unwrap();
        }
        // Reading the oldest makes it the most recently used.
        assert!(matches!(cache.get(&keys[0]), Lookup::Hit(..)));
        assert_eq!(cache.evict().unwrap(), 2);
        assert!(matches!(cache.get(&keys[0]), Lookup::Hit(..)));
        assert_eq!(cache.get(&keys[1]), Lookup::Miss);
        assert_eq!(cache.get(&keys[2]), Lookup::Miss);
        assert!(matches!(cache.get(&keys[3]), Lookup::Hit(..)));
        assert_eq!(cache.evict().unwrap(), 0);
    }

    #[test]
    fn times_accumulate_and_a_damaged_file_is_none() {
        let (_dir, cache) = cache(DEFAULT_MAX_BYTES);
        assert!(cache.times().is_empty());
        cache
            .record_times(&BTreeMap::from([("a".into(), 1.5), ("b".into(), 2.0)]))
            .unwrap();
        cache
            .record_times(&BTreeMap::from([("b".into(), 3.0)]))
            .unwrap();
        assert_eq!(
            cache.times(),
            BTreeMap::from([("a".into(), 1.5), ("b".into(), 3.0)])
        );
        std::fs::write(cache.dir().join(TIMES), "{not json").unwrap();
        assert!(cache.times().is_empty());
    }
}
