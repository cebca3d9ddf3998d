//! Pairs one overlay's resources at base and head (hash-suffix renames included) and produces a
//! unified diff per changed resource.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use similar::{ChangeTag, TextDiff};

use crate::manifest::{Resource, ResourceKey, redact_secret_pair, to_yaml};
use crate::model::{Change, ResourceDiff};

/// How long one resource's diff may take; a pathological pair falls back to a coarser diff
/// rather than stalling the run.
const DIFF_DEADLINE: Duration = Duration::from_secs(5);
/// Lines of context around each change, as `diff -u`.
const CONTEXT_LINES: usize = 3;

/// Where a resource sits in one render: its key, plus its `apiVersion` when the render holds
/// twins (the same key under two versions, e.g. `autoscaling/v1` and `autoscaling/v2` of one
/// HorizontalPodAutoscaler). kustomize renders twins as two objects; keyed by identity alone one
/// would silently replace the other, so each is paired with its own version instead.
type Slot = (ResourceKey, String);

/// One object's place at base and head, as indexes into the two renders; at least one is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pairing {
    pub(crate) base: Option<usize>,
    pub(crate) head: Option<usize>,
}

/// Which object at base is which at head: same key (and version, for twins), then generated
/// ConfigMaps and Secrets whose names differ only in the hash suffix; the rest stand alone.
/// Diffs and risk rules both read it, so a hash rename is never a removal for either.
pub(crate) fn pair(base: &[Resource], head: &[Resource]) -> Vec<Pairing> {
    let twinned = twinned_keys(base, head);
    let slots = |resources: &[Resource]| -> BTreeMap<Slot, usize> {
        resources
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let version = if twinned.contains(&r.key) {
                    r.api_version.clone()
                } else {
                    String::new()
                };
                ((r.key.clone(), version), i)
            })
            .collect()
    };
    let mut base_slots = slots(base);
    let mut head_slots = slots(head);
    let mut pairs = Vec::new();
    let common: Vec<Slot> = base_slots
        .keys()
        .filter(|k| head_slots.contains_key(*k))
        .cloned()
        .collect();
    for key in common {
        pairs.push(Pairing {
            base: base_slots.remove(&key),
            head: head_slots.remove(&key),
        });
    }
    pairs.extend(pair_generated_names(
        base,
        head,
        &mut base_slots,
        &mut head_slots,
    ));
    pairs.extend(base_slots.into_values().map(|i| Pairing {
        base: Some(i),
        head: None,
    }));
    pairs.extend(head_slots.into_values().map(|i| Pairing {
        base: None,
        head: Some(i),
    }));
    pairs
}

/// Diffs one overlay's rendered resources. Either side may be empty (an added or removed
/// overlay). The result is ordered by resource key.
#[cfg(test)]
pub(crate) fn diff_resources(base: Vec<Resource>, head: Vec<Resource>) -> Vec<ResourceDiff> {
    let pairs = pair(&base, &head);
    diff_paired(base, head, &pairs)
}

/// [`diff_resources`] with the pairing already made.
pub(crate) fn diff_paired(
    base: Vec<Resource>,
    head: Vec<Resource>,
    pairs: &[Pairing],
) -> Vec<ResourceDiff> {
    let twinned = twinned_keys(&base, &head);
    let mut base: Vec<Option<Resource>> = base.into_iter().map(Some).collect();
    let mut head: Vec<Option<Resource>> = head.into_iter().map(Some).collect();
    let mut diffs = Vec::new();
    for p in pairs {
        let b = p.base.and_then(|i| base[i].take());
        let h = p.head.and_then(|i| head[i].take());
        match (b, h) {
            (Some(b), Some(h)) => diffs.extend(modified(b, h)),
            (Some(b), None) => diffs.push(one_sided(b, Change::Removed)),
            (None, Some(h)) => diffs.push(one_sided(h, Change::Added)),
            (None, None) => {}
        }
    }
    for d in &mut diffs {
        d.twin = twinned.contains(&d.key);
    }
    diffs.sort_by(|a, b| {
        a.key
            .cmp(&b.key)
            .then(a.change.cmp(&b.change))
            .then(a.api_version.cmp(&b.api_version))
    });
    diffs
}

/// Keys that name more than one object in either render. Both sides key them by version too,
/// so a twin appearing next to an object does not unpair the object from its earlier self.
fn twinned_keys(base: &[Resource], head: &[Resource]) -> BTreeSet<ResourceKey> {
    let mut twinned = BTreeSet::new();
    for side in [base, head] {
        let mut seen = BTreeSet::new();
        for r in side {
            if !seen.insert(&r.key) {
                twinned.insert(r.key.clone());
            }
        }
    }
    twinned
}

/// kustomize appends `-` and ten characters of this alphabet to generated ConfigMap and Secret
/// names; a content change changes only that suffix.
pub(crate) fn name_stem(resource: &Resource) -> Option<&str> {
    const HASH_ALPHABET: &str = "bcdfghkmt2456789";
    if !resource.key.group.is_empty()
        || !matches!(resource.key.kind.as_str(), "ConfigMap" | "Secret")
    {
        return None;
    }
    let (stem, suffix) = resource.key.name.rsplit_once('-')?;
    (suffix.len() == 10 && suffix.chars().all(|c| HASH_ALPHABET.contains(c))).then_some(stem)
}

/// Takes the unmatched generated resources whose names differ only in the hash suffix out of
/// both maps, as pairs.
fn pair_generated_names(
    base: &[Resource],
    head: &[Resource],
    base_slots: &mut BTreeMap<Slot, usize>,
    head_slots: &mut BTreeMap<Slot, usize>,
) -> Vec<Pairing> {
    let stem_key = |r: &Resource| {
        name_stem(r).map(|stem| {
            (
                r.key.kind.clone(),
                r.key.namespace.clone(),
                stem.to_string(),
            )
        })
    };
    let mut by_stem: BTreeMap<_, (Vec<Slot>, Vec<Slot>)> = BTreeMap::new();
    for (slot, &i) in base_slots.iter() {
        if let Some(stem) = stem_key(&base[i]) {
            by_stem.entry(stem).or_default().0.push(slot.clone());
        }
    }
    for (slot, &i) in head_slots.iter() {
        if let Some(stem) = stem_key(&head[i]) {
            by_stem.entry(stem).or_default().1.push(slot.clone());
        }
    }
    let mut pairs = Vec::new();
    for (old, new) in by_stem.into_values() {
        // Several generations of one name at once (rare: `behavior: create` twice) cannot be
        // paired reliably; they stay added and removed.
        if let ([old], [new]) = (old.as_slice(), new.as_slice()) {
            pairs.push(Pairing {
                base: base_slots.remove(old),
                head: head_slots.remove(new),
            });
        }
    }
    pairs
}

fn modified(mut base: Resource, mut head: Resource) -> Option<ResourceDiff> {
    if base.body == head.body {
        return None;
    }
    if head.is_secret() || base.is_secret() {
        redact_secret_pair(
            base.is_secret().then_some(&mut base.body),
            head.is_secret().then_some(&mut head.body),
        );
    }
    let (old, new) = (to_yaml(&base.body), to_yaml(&head.body));
    let previous_name = (base.key.name != head.key.name).then(|| base.key.name.clone());
    Some(build_diff(
        head.key,
        head.api_version,
        Change::Modified,
        previous_name,
        &old,
        &new,
    ))
}

fn one_sided(mut resource: Resource, change: Change) -> ResourceDiff {
    if resource.is_secret() {
        match change {
            Change::Removed => redact_secret_pair(Some(&mut resource.body), None),
            _ => redact_secret_pair(None, Some(&mut resource.body)),
        }
    }
    let yaml = to_yaml(&resource.body);
    let (old, new) = match change {
        Change::Removed => (yaml.as_str(), ""),
        _ => ("", yaml.as_str()),
    };
    build_diff(resource.key, resource.api_version, change, None, old, new)
}

fn build_diff(
    key: ResourceKey,
    api_version: String,
    change: Change,
    previous_name: Option<String>,
    old: &str,
    new: &str,
) -> ResourceDiff {
    let text = TextDiff::configure()
        .timeout(DIFF_DEADLINE)
        .diff_lines(old, new);
    let (mut lines_added, mut lines_removed) = (0, 0);
    for change in text.iter_all_changes() {
        match change.tag() {
            ChangeTag::Insert => lines_added += 1,
            ChangeTag::Delete => lines_removed += 1,
            ChangeTag::Equal => {}
        }
    }
    let diff = text
        .unified_diff()
        .context_radius(CONTEXT_LINES)
        .to_string();
    ResourceDiff {
        key,
        api_version,
        change,
        previous_name,
        diff,
        lines_added,
        lines_removed,
        twin: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse_resources;

    fn resources(yaml: &str) -> Vec<Resource> {
        parse_resources(yaml).unwrap()
    }

    const CONFIG_OLD: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config-7t2h5g9m2f\n  namespace: shop\ndata:\n  LOG_LEVEL: info\n";
    const CONFIG_NEW: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config-b8mk4c6d6h\n  namespace: shop\ndata:\n  LOG_LEVEL: debug\n";

    #[test]
    fn a_hash_suffix_rename_is_one_modified_resource() {
        let diffs = diff_resources(resources(CONFIG_OLD), resources(CONFIG_NEW));
        assert_eq!(diffs.len(), 1);
        let d = &diffs[0];
        assert_eq!(d.change, Change::Modified);
        assert_eq!(d.key.name, "web-config-b8mk4c6d6h");
        assert_eq!(d.previous_name.as_deref(), Some("web-config-7t2h5g9m2f"));
        expect_test::expect![[r#"
            @@ -1,7 +1,7 @@
             apiVersion: v1
             kind: ConfigMap
             metadata:
            -  name: web-config-7t2h5g9m2f
            +  name: web-config-b8mk4c6d6h
               namespace: shop
             data:
            -  LOG_LEVEL: info
            +  LOG_LEVEL: debug
        "#]]
        .assert_eq(&d.diff);
        assert_eq!((d.lines_added, d.lines_removed), (2, 2));
    }

    #[test]
    fn names_that_merely_look_hashed_pair_only_for_generated_kinds() {
        let old = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-7t2h5g9m2f\n";
        let new = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-b8mk4c6d6h\n";
        let diffs = diff_resources(resources(old), resources(new));
        let changes: Vec<Change> = diffs.iter().map(|d| d.change).collect();
        assert_eq!(changes, [Change::Removed, Change::Added]);
    }

    #[test]
    fn identical_resources_produce_nothing_and_one_sided_ones_are_whole() {
        let diffs = diff_resources(resources(CONFIG_OLD), resources(CONFIG_OLD));
        assert!(diffs.is_empty());
        let diffs = diff_resources(Vec::new(), resources(CONFIG_OLD));
        assert_eq!(diffs[0].change, Change::Added);
        assert!(
            diffs[0]
                .diff
                .starts_with("@@ -0,0 +1,7 @@\n+apiVersion: v1\n")
        );
        assert_eq!(diffs[0].lines_removed, 0);
    }

    #[test]
    fn secret_values_never_reach_the_diff() {
        let old = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-2c8hmt4bk6\ndata:\n  password: aHVudGVyMg==\n  user: YWRtaW4=\n";
        let new = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-f7b2c9g4m6\ndata:\n  password: czNjcjN0\n  user: YWRtaW4=\n";
        let diffs = diff_resources(resources(old), resources(new));
        assert_eq!(diffs.len(), 1);
        let text = &diffs[0].diff;
        for secret in [
            "aHVudGVyMg==",
            "hunter2",
            "czNjcjN0",
            "s3cr3t",
            "YWRtaW4=",
            "admin",
        ] {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
        assert!(
            text.contains("-  password: <redacted: previous value>"),
            "{text}"
        );
        assert!(text.contains("+  password: <redacted: changed>"), "{text}");
        assert!(text.contains("   user: <redacted: unchanged>"), "{text}");
    }
}

#[cfg(test)]
mod api_version_twins {
    use super::*;
    use crate::manifest::parse_resources;

    fn hpa(version: &str, max: u32) -> String {
        format!(
            "apiVersion: autoscaling/{version}\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\n  namespace: prod\nspec:\n  maxReplicas: {max}\n"
        )
    }

    fn render(docs: &[String]) -> Vec<Resource> {
        parse_resources(&docs.join("---\n")).unwrap()
    }

    fn shown(diffs: &[ResourceDiff]) -> Vec<String> {
        diffs
            .iter()
            .map(|d| format!("{:?} {} {}", d.change, d.api_version, d.key))
            .collect()
    }

    #[test]
    fn twins_in_one_render_are_both_listed() {
        let diffs = diff_resources(Vec::new(), render(&[hpa("v1", 5), hpa("v2", 7)]));
        assert_eq!(
            shown(&diffs),
            [
                "Added autoscaling/v1 HorizontalPodAutoscaler prod/web",
                "Added autoscaling/v2 HorizontalPodAutoscaler prod/web",
            ]
        );
    }

    #[test]
    fn a_change_to_one_twin_is_not_hidden_by_the_other() {
        let diffs = diff_resources(
            render(&[hpa("v1", 5), hpa("v2", 7)]),
            render(&[hpa("v1", 6), hpa("v2", 7)]),
        );
        assert_eq!(
            shown(&diffs),
            ["Modified autoscaling/v1 HorizontalPodAutoscaler prod/web"]
        );
        assert!(
            diffs[0].diff.contains("+  maxReplicas: 6"),
            "{}",
            diffs[0].diff
        );
    }

    #[test]
    fn a_twin_appearing_next_to_an_object_keeps_the_object_paired() {
        let diffs = diff_resources(
            render(&[hpa("v1", 5)]),
            render(&[hpa("v1", 5), hpa("v2", 7)]),
        );
        assert_eq!(
            shown(&diffs),
            ["Added autoscaling/v2 HorizontalPodAutoscaler prod/web"]
        );
    }

    #[test]
    fn a_version_move_without_twins_is_still_one_modification() {
        let diffs = diff_resources(render(&[hpa("v1", 5)]), render(&[hpa("v2", 5)]));
        assert_eq!(
            shown(&diffs),
            ["Modified autoscaling/v2 HorizontalPodAutoscaler prod/web"]
        );
    }
}
