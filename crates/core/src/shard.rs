//! One diff split across several jobs: which shard builds which overlays, the partial report
//! each shard writes, and joining the partial reports into the report one job would have made.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::{OverlayDiff, OverlayStatus, Report};

/// Shard `index` of `count`, counted from 1 as a matrix lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// More shards than this is a typo: a GitHub matrix runs at most 256 jobs.
const MAX_SHARDS: usize = 256;

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("shard {s:?} is not I/N (e.g. 2/4, with 1 <= I <= N <= {MAX_SHARDS})");
        let (index, count) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: usize = index.trim().parse().map_err(|_| bad())?;
        let count: usize = count.trim().parse().map_err(|_| bad())?;
        if index == 0 || index > count || count > MAX_SHARDS {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// One overlay to place: how long it is expected to take, and its name, which breaks ties so
/// every shard computes the same placement.
#[derive(Debug, Clone)]
pub(crate) struct Work<'a> {
    pub(crate) label: &'a str,
    pub(crate) seconds: Option<f64>,
    /// The number of files its builds read, the estimate when no time is known.
    pub(crate) size: usize,
}

/// The shard (1..=count) of each piece of work: longest first, each onto the shard with the
/// least work so far. A piece with no recorded time is estimated from its size at the seconds
/// per file of those with one, or by its size alone when none has a time.
pub(crate) fn assign(work: &[Work], count: usize) -> Vec<usize> {
    let (timed_seconds, timed_size) = work
        .iter()
        .filter_map(|w| w.seconds.map(|s| (s, w.size)))
        .fold((0.0, 0usize), |(s, n), (ws, wn)| (s + ws, n + wn));
    let per_file = if timed_size > 0 {
        timed_seconds / timed_size as f64
    } else {
        1.0
    };
    let estimate = |w: &Work| w.seconds.unwrap_or_else(|| w.size.max(1) as f64 * per_file);
    let mut order: Vec<usize> = (0..work.len()).collect();
    order.sort_by(|&a, &b| {
        estimate(&work[b])
            .total_cmp(&estimate(&work[a]))
            .then_with(|| work[a].label.cmp(work[b].label))
    });
    let mut load = vec![0.0f64; count.max(1)];
    let mut owners = vec![0; work.len()];
    for i in order {
        let (lightest, _) = load
            .iter()
            .enumerate()
            .min_by(|(_, a), (_, b)| a.total_cmp(b))
            .expect("at least one shard");
        load[lightest] += estimate(&work[i]);
        owners[i] = lightest + 1;
    }
    owners
}

/// What one shard writes: its part of the report, and enough of the whole to know what the
/// other shards were to build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    /// [`FORMAT`], so that another JSON file is not taken for one.
    pub format: String,
    pub shard: Shard,
    /// Per overlay of `report.overlays`, the shard that builds it; 0 for an overlay no shard
    /// builds (unaffected), which every partial reports alike.
    pub owners: Vec<usize>,
    /// How long this shard's overlays took to build, by name, for the next run's balancing.
    pub times: BTreeMap<String, f64>,
    /// Every overlay of the run; those another shard builds are placeholders.
    pub report: Report,
}

pub const FORMAT: &str = "gitops-promote partial report v1";

impl Partial {
    /// Reads a partial report from `path`, as `merge` takes it: named, and read or the reason
    /// it could not be.
    pub fn read(path: &std::path::Path) -> (String, Result<Partial, String>) {
        let read = std::fs::read(path)
            .map_err(|e| format!("cannot be read: {e}"))
            .and_then(|bytes| Partial::from_json(&bytes));
        (path.display().to_string(), read)
    }

    /// Reads a partial report from its JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Partial, String> {
        #[derive(Deserialize)]
        struct Head {
            format: Option<String>,
        }
        let head: Head = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        if head.format.as_deref() != Some(FORMAT) {
            return Err(format!(
                "not a partial report (written by `diff --shard`): its format is {:?}, not {FORMAT:?}",
                head.format.unwrap_or_default()
            ));
        }
        let partial: Partial =
            serde_json::from_slice(bytes).map_err(|e| format!("damaged partial report: {e}"))?;
        if partial.owners.len() != partial.report.overlays.len() {
            return Err("damaged partial report: owners and overlays differ in number".into());
        }
        Ok(partial)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report always serializes")
    }
}

/// The joined report, and what the join had to work around.
#[derive(Debug)]
pub struct Merged {
    pub report: Report,
    pub times: BTreeMap<String, f64>,
    /// Shards whose report is missing or could not be read; their overlays are errors.
    pub missing: Vec<usize>,
    /// One line per file that could not be used, and why.
    pub warnings: Vec<String>,
}

/// Why partial reports cannot be joined at all.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("no partial report could be read:\n{0}")]
    NoneReadable(String),
    #[error("{file} is from another run: {reason}")]
    Mismatch { file: String, reason: String },
}

/// Joins the partial reports of one run; `inputs` pairs each file name with what reading it
/// gave. A shard without a readable report shows as its overlays failing, never as unchanged.
pub fn merge(inputs: Vec<(String, Result<Partial, String>)>) -> Result<Merged, MergeError> {
    let mut warnings = Vec::new();
    let mut partials: Vec<(String, Partial)> = Vec::new();
    for (file, read) in inputs {
        match read {
            Ok(p) => partials.push((file, p)),
            Err(reason) => warnings.push(format!("{file}: {reason}")),
        }
    }
    partials.sort_by_key(|(_, p)| p.shard.index);
    let Some((_, first)) = partials.first() else {
        return Err(MergeError::NoneReadable(warnings.join("\n")));
    };
    let first = first.clone();
    let count = first.shard.count;
    let mut by_index: BTreeMap<usize, Partial> = BTreeMap::new();
    for (file, p) in partials {
        let mismatch = |reason: String| MergeError::Mismatch {
            file: file.clone(),
            reason,
        };
        if p.shard.count != count {
            return Err(mismatch(format!(
                "it is shard {} where {} is of {count} shards",
                p.shard, first.shard
            )));
        }
        if p.report.base.sha != first.report.base.sha || p.report.head.sha != first.report.head.sha
        {
            return Err(mismatch(format!(
                "it compares {}..{}, the others {}..{}",
                p.report.base.sha, p.report.head.sha, first.report.base.sha, first.report.head.sha
            )));
        }
        let paths = |r: &Report| {
            r.overlays
                .iter()
                .map(|o| o.path.clone())
                .collect::<Vec<_>>()
        };
        if paths(&p.report) != paths(&first.report) {
            return Err(mismatch(
                "it plans other overlays than the rest (different options?)".into(),
            ));
        }
        if by_index.contains_key(&p.shard.index) {
            warnings.push(format!(
                "{file}: shard {} is given twice; the first is used",
                p.shard
            ));
            continue;
        }
        by_index.insert(p.shard.index, p);
    }
    let missing: Vec<usize> = (1..=count).filter(|i| !by_index.contains_key(i)).collect();

    let mut report = first.report.clone();
    let mut disagreed = 0usize;
    for (j, slot) in report.overlays.iter_mut().enumerate() {
        let owned = by_index
            .values()
            .find(|p| p.owners[j] == p.shard.index)
            .map(|p| p.report.overlays[j].clone());
        // Shards that planned with different build times (they read different caches) may
        // each leave an overlay to another: then nobody rendered it, and blaming a shard that
        // did report would send the reader to the wrong job.
        let unclaimed = || {
            by_index
                .values()
                .any(|p| p.owners[j] != 0 && by_index.contains_key(&p.owners[j]))
        };
        *slot = match (owned, first.owners[j]) {
            (Some(o), _) => o,
            (None, 0) => slot.clone(),
            (None, _) if unclaimed() => {
                disagreed += 1;
                not_placed(slot)
            }
            (None, owner) => not_compared(slot, owner, count),
        };
    }
    if disagreed > 0 {
        warnings.push(format!(
            "the shards placed the overlays differently (they read different render caches): \
             {disagreed} overlay(s) rendered by none of them are shown as not compared; give \
             every shard the same cache, or none"
        ));
    }
    if let Some(apps) = report.applications.as_mut() {
        for (k, change) in apps.manifests.iter_mut().enumerate() {
            if change.deletes.is_none() {
                change.deletes = by_index.values().find_map(|p| {
                    p.report
                        .applications
                        .as_ref()
                        .and_then(|a| a.manifests.get(k))
                        .and_then(|c| c.deletes)
                });
            }
        }
    }
    let stats = &mut report.stats;
    let mut times = BTreeMap::new();
    stats.builds = 0;
    stats.seconds = 0.0;
    stats.risk_seconds = 0.0;
    stats.peak_rss_kb = None;
    stats.cache = None;
    for p in by_index.values() {
        let s = &p.report.stats;
        stats.builds += s.builds;
        stats.seconds = stats.seconds.max(s.seconds);
        stats.risk_seconds += s.risk_seconds;
        stats.peak_rss_kb = stats.peak_rss_kb.max(s.peak_rss_kb);
        if let Some(c) = &s.cache {
            stats.cache.get_or_insert_default().add(c);
        }
        times.extend(p.times.iter().map(|(k, v)| (k.clone(), *v)));
    }
    for i in &missing {
        warnings.push(format!(
            "shard {i}/{count}: no report; its overlays are shown as not compared"
        ));
    }
    Ok(Merged {
        report,
        times,
        missing,
        warnings,
    })
}

/// The entry of an overlay whose shard gave no report.
fn not_compared(placeholder: &OverlayDiff, owner: usize, count: usize) -> OverlayDiff {
    OverlayDiff {
        error: Some(format!(
            "not compared: shard {owner}/{count}, which renders it, gave no report (its job \
             failed or was cancelled, or its report was not passed to merge-reports); rerun \
             that job"
        )),
        application: placeholder.application.clone(),
        ..OverlayDiff::new(placeholder.path.clone(), OverlayStatus::Error)
    }
}

/// The entry of an overlay every shard left to another.
fn not_placed(placeholder: &OverlayDiff) -> OverlayDiff {
    OverlayDiff {
        error: Some(
            "not compared: no shard rendered it, because the shards placed the overlays \
             differently (they read different render caches, so different build times); give \
             every shard the same cache, or none, and rerun"
                .into(),
        ),
        application: placeholder.application.clone(),
        ..OverlayDiff::new(placeholder.path.clone(), OverlayStatus::Error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Filters, Revision, Stats};

    #[test]
    fn shards_parse_as_a_matrix_counts_them() {
        assert_eq!("2/4".parse(), Ok(Shard { index: 2, count: 4 }));
        assert_eq!(" 1 / 1 ".parse(), Ok(Shard { index: 1, count: 1 }));
        for bad in ["0/4", "5/4", "4", "a/b", "1/0", "1/1000", ""] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains("I/N"), "{bad}: {e}");
        }
    }

    fn work(label: &str, seconds: Option<f64>, size: usize) -> Work<'_> {
        Work {
            label,
            seconds,
            size,
        }
    }

    #[test]
    fn the_longest_builds_spread_first() {
        let w = [
            work("a", Some(10.0), 1),
            work("b", Some(1.0), 1),
            work("c", Some(9.0), 1),
            work("d", Some(2.0), 1),
        ];
        // a→1, c→2, d→2 (9 < 10), b→1 (10 < 11): 11 and 11.
        assert_eq!(assign(&w, 2), vec![1, 1, 2, 2]);
    }

    #[test]
    fn without_times_size_decides_and_names_break_ties() {
        let w = [work("b", None, 5), work("a", None, 5), work("c", None, 20)];
        assert_eq!(assign(&w, 2), vec![2, 2, 1]);
        // Unknown work is estimated at the known seconds per file.
        let w = [work("known", Some(4.0), 2), work("new", None, 4)];
        assert_eq!(assign(&w, 2), vec![2, 1]);
    }

    #[test]
    fn placement_does_not_depend_on_the_order_given() {
        let w: Vec<Work> = (0..50)
            .map(|i| Work {
                label: Box::leak(format!("o{i:02}").into_boxed_str()),
                seconds: (i % 3 != 0).then_some((i * 7 % 11) as f64),
                size: i % 5 + 1,
            })
            .collect();
        let forward = assign(&w, 4);
        let mut reversed = w.clone();
        reversed.reverse();
        let mut backward = assign(&reversed, 4);
        backward.reverse();
        assert_eq!(forward, backward);
        assert!((1..=4).all(|s| forward.contains(&s)));
    }

    /// Shard `index` of 2 that built the overlays `owners` gives it; the others are
    /// placeholders (unchanged), as `diff --shard` writes them.
    fn partial(index: usize, owners: &[usize]) -> (String, Result<Partial, String>) {
        let overlays = owners
            .iter()
            .enumerate()
            .map(|(j, &owner)| {
                let status = if owner == index {
                    OverlayStatus::Changed
                } else {
                    OverlayStatus::Unchanged
                };
                OverlayDiff::new(format!("overlays/o{j}"), status)
            })
            .collect();
        let revision = |name: &str| Revision {
            name: name.into(),
            sha: format!("{name}-sha"),
        };
        let report = Report {
            base: revision("base"),
            head: revision("head"),
            merge_base: false,
            overlays,
            applications: None,
            filters: Filters::default(),
            stats: Stats::default(),
        };
        let partial = Partial {
            format: FORMAT.into(),
            shard: Shard { index, count: 2 },
            owners: owners.to_vec(),
            times: BTreeMap::new(),
            report,
        };
        (format!("shard-{index}.json"), Ok(partial))
    }

    fn outcome(o: &OverlayDiff) -> (OverlayStatus, Option<&str>) {
        (
            o.status,
            o.error
                .as_deref()
                .map(|e| &e[..e.find(',').unwrap_or(e.len())]),
        )
    }

    #[test]
    fn an_overlay_each_shard_left_to_the_other_is_not_compared_and_names_the_cause() {
        // o0: both agree on shard 1; o1: each says "the other"; o2: both say shard 2; o3: each
        // says "mine" (built twice, the first is kept).
        let merged = merge(vec![partial(1, &[1, 2, 2, 1]), partial(2, &[1, 1, 2, 2])]).unwrap();
        let got: Vec<_> = merged.report.overlays.iter().map(outcome).collect();
        assert_eq!(got[0], (OverlayStatus::Changed, None));
        assert_eq!(got[2], (OverlayStatus::Changed, None));
        assert_eq!(got[3], (OverlayStatus::Changed, None));
        let (status, error) = got[1];
        assert_eq!(status, OverlayStatus::Error);
        assert!(error.unwrap().contains("no shard rendered it"), "{error:?}");
        assert!(merged.missing.is_empty());
        assert_eq!(merged.warnings.len(), 1, "{:?}", merged.warnings);
        assert!(
            merged.warnings[0].contains("1 overlay(s)"),
            "{:?}",
            merged.warnings
        );
    }

    #[test]
    fn an_overlay_of_a_missing_shard_blames_that_shard() {
        let merged = merge(vec![partial(1, &[1, 2])]).unwrap();
        assert_eq!(merged.missing, [2]);
        let (status, error) = outcome(&merged.report.overlays[1]);
        assert_eq!(status, OverlayStatus::Error);
        assert_eq!(error, Some("not compared: shard 2/2"));
        assert_eq!(
            outcome(&merged.report.overlays[0]),
            (OverlayStatus::Changed, None)
        );
    }
}
