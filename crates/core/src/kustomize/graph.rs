//! Finds the kustomization roots of a snapshot and the files each root's build reads (its
//! closure), so that only the overlays a change touches are built.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

use globset::GlobSet;
use serde_json::Value;

use crate::git::{Repo, Snapshot, join_relative};
use crate::manifest::yaml_error_summary;

/// File names kustomize accepts, in its order of preference.
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// One directory holding a kustomization.
#[derive(Debug, Clone)]
pub(crate) struct Root {
    pub(crate) dir: String,
    pub(crate) file: String,
    pub(crate) component: bool,
    /// What the kustomization names, or why it could not be read.
    pub(crate) refs: Result<References, String>,
}

/// Paths named by a kustomization, still relative to its directory.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct References {
    /// Entries that may be another kustomization directory, a directory or a file
    /// (`resources`, `bases`, `components`, `generators`, `transformers`, `validators`).
    pub(crate) entries: Vec<String>,
    /// Entries that can only be files (patches, generator sources, crds, …).
    pub(crate) files: Vec<String>,
    /// Directories read as a whole (a Helm chart home).
    pub(crate) dirs: Vec<String>,
    /// Generator, transformer and validator configs given as paths: a Helm generator among them
    /// fetches its chart.
    pub(crate) configs: Vec<String>,
    /// What the kustomization itself fetches from the network (Helm charts from a repository).
    pub(crate) remote: Vec<String>,
    /// Inline configs that could not be read, with the reason.
    pub(crate) unreadable: Vec<String>,
    /// `secretGenerator` literal values: kustomize may echo them in an error.
    pub(crate) secret_literals: Vec<String>,
    /// `secretGenerator` `files` and `envs` sources, relative to the kustomization: their
    /// contents are Secret values too.
    pub(crate) secret_sources: Vec<String>,
}

/// Everything one root's build reads, as repo-relative paths.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Closure {
    pub(crate) files: BTreeSet<String>,
    pub(crate) dirs: BTreeSet<String>,
    /// Directories of every kustomization in the closure: a new kustomization file there
    /// changes the build too.
    pub(crate) roots: BTreeSet<String>,
    /// Remote bases (URLs), which cannot be compared and need the network to build.
    pub(crate) remote: BTreeSet<String>,
    /// Kustomizations (or generator configs) in the closure that could not be parsed: the file
    /// and the reason.
    pub(crate) unparseable: Vec<(String, String)>,
}

impl Closure {
    /// Whether any changed path can alter what this closure builds to.
    pub(crate) fn touched_by(&self, overlay_dir: &str, changed: &[String]) -> bool {
        changed.iter().any(|path| {
            self.files.contains(path)
                || self
                    .dirs
                    .iter()
                    .any(|d| d == "." || path.starts_with(&format!("{d}/")))
                || self.roots.iter().any(|d| {
                    parent_and_name(path).is_some_and(|(parent, name)| {
                        parent == *d && KUSTOMIZATION_FILES.contains(&name)
                    })
                })
                || is_argocd_source_of(path, overlay_dir)
        })
    }
}

/// `.argocd-source.yaml` and `.argocd-source-<app>.yaml` beside an overlay's kustomization:
/// Argo CD applies them when it renders that overlay.
pub(crate) fn is_argocd_source_of(path: &str, overlay_dir: &str) -> bool {
    parent_and_name(path).is_some_and(|(parent, name)| {
        parent == overlay_dir && crate::argocd::source::is_override_file(name)
    })
}

fn parent_and_name(path: &str) -> Option<(&str, &str)> {
    Some(match path.rsplit_once('/') {
        Some((parent, name)) => (parent, name),
        None => (".", path),
    })
}

/// All kustomization roots of one snapshot.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub(crate) roots: BTreeMap<String, Root>,
    /// Symlinks of the snapshot (path → target text): kustomize follows them, so must we.
    links: BTreeMap<String, String>,
    /// Generator and transformer config files some kustomization names: what each fetches, or
    /// why it cannot be read.
    configs: BTreeMap<String, Result<Vec<String>, String>>,
}

impl Graph {
    /// Reads and parses every kustomization of the snapshot.
    pub(crate) fn load(repo: &Repo, snapshot: &Snapshot) -> anyhow::Result<Graph> {
        let mut roots = BTreeMap::new();
        let mut links = BTreeMap::new();
        for (path, entry) in &snapshot.files {
            if entry.is_symlink() {
                let target = repo.read_blob(entry.oid)?;
                links.insert(path.clone(), String::from_utf8_lossy(&target).into_owned());
                continue;
            }
            let (dir, name) = parent_and_name(path).expect("paths are never empty");
            let Some(rank) = KUSTOMIZATION_FILES.iter().position(|f| *f == name) else {
                continue;
            };
            if let Some(existing) = roots.get(dir).map(|r: &Root| r.file.clone()) {
                let existing_rank = KUSTOMIZATION_FILES
                    .iter()
                    .position(|f| existing.ends_with(f))
                    .unwrap_or(usize::MAX);
                if existing_rank < rank {
                    continue;
                }
            }
            let content = repo.read_blob(entry.oid)?;
            roots.insert(dir.to_string(), parse_root(dir, path, &content));
        }
        let mut graph = Graph {
            roots,
            links,
            configs: BTreeMap::new(),
        };
        let mut configs = BTreeMap::new();
        for root in graph.roots.values() {
            let Ok(refs) = &root.refs else { continue };
            for config in &refs.configs {
                let Some((path, _)) = graph.locate(&root.dir, config) else {
                    continue;
                };
                let Some(entry) = snapshot.files.get(&path) else {
                    continue;
                };
                if configs.contains_key(&path) || entry.is_symlink() {
                    continue;
                }
                let content = repo.read_blob(entry.oid)?;
                configs.insert(path, fetched_by_config(&content));
            }
        }
        graph.configs = configs;
        Ok(graph)
    }

    /// Root directories referenced by another root.
    fn referenced(&self) -> BTreeSet<String> {
        let mut referenced = BTreeSet::new();
        for root in self.roots.values() {
            let Ok(refs) = &root.refs else { continue };
            for entry in &refs.entries {
                if let Some((path, _)) = self.locate(&root.dir, entry)
                    && path != root.dir
                    && self.roots.contains_key(&path)
                {
                    referenced.insert(path);
                }
            }
        }
        referenced
    }

    /// The overlays: roots that no other root includes or, with globs, every root they select.
    /// Components never build on their own, so they are never overlays.
    pub(crate) fn overlays(&self, selector: Option<&GlobSet>) -> BTreeSet<String> {
        let referenced = match selector {
            Some(_) => BTreeSet::new(),
            None => self.referenced(),
        };
        self.roots
            .values()
            .filter(|r| !r.component)
            .filter(|r| match selector {
                Some(globs) => globs.is_match(&r.dir),
                None => !referenced.contains(&r.dir),
            })
            .map(|r| r.dir.clone())
            .collect()
    }

    /// Everything the build of `root` reads in this snapshot.
    pub(crate) fn closure(&self, snapshot: &Snapshot, root: &str) -> Closure {
        let mut memo = HashMap::new();
        let mut visiting = BTreeSet::new();
        (*self.closure_of(snapshot, root, &mut memo, &mut visiting)).clone()
    }

    fn closure_of(
        &self,
        snapshot: &Snapshot,
        dir: &str,
        memo: &mut HashMap<String, Rc<Closure>>,
        visiting: &mut BTreeSet<String>,
    ) -> Rc<Closure> {
        if let Some(done) = memo.get(dir) {
            return done.clone();
        }
        let mut closure = Closure::default();
        let Some(root) = self.roots.get(dir) else {
            return Rc::new(closure);
        };
        closure.files.insert(root.file.clone());
        closure.roots.insert(root.dir.clone());
        // A cycle is kustomize's error to report; stopping here keeps the walk finite.
        if !visiting.insert(dir.to_string()) {
            return Rc::new(closure);
        }
        match &root.refs {
            Err(reason) => closure
                .unparseable
                .push((root.file.clone(), reason.clone())),
            Ok(refs) => {
                closure.remote.extend(refs.remote.iter().cloned());
                closure.unparseable.extend(
                    refs.unreadable
                        .iter()
                        .map(|reason| (root.file.clone(), reason.clone())),
                );
                for entry in &refs.entries {
                    let located = self.locate(dir, entry).map(|(path, links)| {
                        closure.files.extend(links);
                        path
                    });
                    match located {
                        Some(path) if self.roots.contains_key(&path) && path != dir => {
                            let inner = self.closure_of(snapshot, &path, memo, visiting);
                            merge(&mut closure, &inner);
                        }
                        Some(path) if snapshot.files.contains_key(&path) => {
                            match self.configs.get(&path) {
                                Some(Ok(remote)) => closure.remote.extend(remote.iter().cloned()),
                                Some(Err(reason)) => {
                                    closure.unparseable.push((path.clone(), reason.clone()))
                                }
                                None => {}
                            }
                            closure.files.insert(path);
                        }
                        Some(path) if snapshot.is_dir(&path) => {
                            closure.dirs.insert(path);
                        }
                        _ if is_remote(entry) => {
                            closure.remote.insert(entry.clone());
                        }
                        // Missing today, but adding it later must count as a change.
                        Some(path) => {
                            closure.files.insert(path);
                        }
                        None => {}
                    }
                }
                for file in &refs.files {
                    let located = self.locate(dir, file);
                    let local = located.as_ref().is_some_and(|(path, _)| {
                        snapshot.files.contains_key(path) || snapshot.is_dir(path)
                    });
                    // Kustomize loads patches, CRDs, schemas and generator sources by URL too.
                    if !local && is_remote(file) {
                        closure.remote.insert(file.clone());
                    } else if let Some((path, links)) = located {
                        closure.files.extend(links);
                        closure.files.insert(path);
                    }
                }
                for sub in &refs.dirs {
                    if let Some((path, links)) = self.locate(dir, sub) {
                        closure.files.extend(links);
                        closure.dirs.insert(path);
                    }
                }
            }
        }
        visiting.remove(dir);
        let closure = Rc::new(closure);
        memo.insert(dir.to_string(), closure.clone());
        closure
    }
}

impl Graph {
    /// Where a path named in the kustomization at `dir` really is, following the snapshot's
    /// symlinks like the file system would, plus the links passed on the way (changing one
    /// changes the build). `None` when the path leaves the repository.
    fn locate(&self, dir: &str, relative: &str) -> Option<(String, Vec<String>)> {
        const MAX_HOPS: usize = 40;
        let mut path = join_relative(dir, relative)?;
        let mut passed = Vec::new();
        for _ in 0..MAX_HOPS {
            let parts: Vec<&str> = path.split('/').collect();
            let hop = (1..=parts.len()).find_map(|n| {
                let prefix = parts[..n].join("/");
                self.links.get(&prefix).map(|target| (prefix, target, n))
            });
            let Some((link, target, n)) = hop else {
                return Some((path, passed));
            };
            let (parent, _) = parent_and_name(&link)?;
            let resolved = join_relative(parent, target)?;
            let rest = parts[n..].join("/");
            passed.push(link);
            path = if rest.is_empty() {
                resolved
            } else if resolved == "." {
                rest
            } else {
                format!("{resolved}/{rest}")
            };
        }
        None
    }
}

fn merge(into: &mut Closure, from: &Closure) {
    into.files.extend(from.files.iter().cloned());
    into.dirs.extend(from.dirs.iter().cloned());
    into.roots.extend(from.roots.iter().cloned());
    into.remote.extend(from.remote.iter().cloned());
    into.unparseable.extend(from.unparseable.iter().cloned());
}

/// Kustomize fetches anything that is neither a local file nor a directory; these are the
/// spellings of such URLs seen in practice.
fn is_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("git@")
        || entry.starts_with("git::")
        || entry
            .split('/')
            .next()
            .is_some_and(|host| host.contains('.') && !host.starts_with('.') && entry.contains('/'))
}

fn parse_root(dir: &str, file: &str, content: &[u8]) -> Root {
    let parsed = std::str::from_utf8(content)
        .map_err(|_| "the file is not UTF-8".to_string())
        .and_then(|text| serde_saphyr::from_str::<Value>(text).map_err(|e| yaml_error_summary(&e)));
    let (component, refs) = match parsed {
        Ok(Value::Object(doc)) => {
            let doc = Value::Object(doc);
            (
                doc.get("kind").and_then(Value::as_str) == Some("Component"),
                Ok(references(&doc)),
            )
        }
        Ok(Value::Null) => (false, Ok(References::default())),
        Ok(_) => (false, Err("the document is not a mapping".to_string())),
        Err(reason) => (false, Err(reason)),
    };
    Root {
        dir: dir.to_string(),
        file: file.to_string(),
        component,
        refs,
    }
}

/// Collects every path a kustomization names, field by field as kustomize v5 reads them.
pub(crate) fn references(doc: &Value) -> References {
    let mut refs = References::default();
    for key in ["resources", "bases", "components"] {
        refs.entries
            .extend(strings(doc.get(key)).filter(|s| is_path(s)));
    }
    for key in ["generators", "transformers", "validators"] {
        for entry in strings(doc.get(key)) {
            if is_path(&entry) {
                refs.entries.push(entry.clone());
                refs.configs.push(entry);
            } else {
                match fetched_by_config(entry.as_bytes()) {
                    Ok(remote) => refs.remote.extend(remote),
                    Err(reason) => refs
                        .unreadable
                        .push(format!("an inline {key} entry: {reason}")),
                }
            }
        }
    }
    for key in ["crds", "configurations", "patchesStrategicMerge"] {
        refs.files
            .extend(strings(doc.get(key)).filter(|s| is_path(s)));
    }
    for key in ["patches", "patchesJson6902", "replacements"] {
        refs.files.extend(
            items(doc.get(key))
                .filter_map(|item| item.get("path").and_then(Value::as_str))
                .map(str::to_string),
        );
    }
    for key in ["configMapGenerator", "secretGenerator"] {
        for generator in items(doc.get(key)) {
            // `files` entries may be `key=path`; only the path is read.
            refs.files.extend(
                strings(generator.get("files")).map(|f| match f.split_once('=') {
                    Some((_, path)) => path.to_string(),
                    None => f,
                }),
            );
            refs.files.extend(strings(generator.get("envs")));
            refs.files.extend(strings(generator.get("env")));
        }
    }
    for generator in items(doc.get("secretGenerator")) {
        refs.secret_sources
            .extend(
                strings(generator.get("files")).map(|f| match f.split_once('=') {
                    Some((_, path)) => path.to_string(),
                    None => f,
                }),
            );
        refs.secret_sources
            .extend(strings(generator.get("envs")).chain(strings(generator.get("env"))));
        for literal in strings(generator.get("literals")) {
            if let Some((_, value)) = literal.split_once('=') {
                refs.secret_literals.push(value.to_string());
                let unquoted = value.trim_matches(|c| c == '"' || c == '\'');
                if unquoted != value {
                    refs.secret_literals.push(unquoted.to_string());
                }
            }
        }
    }
    if let Some(path) = doc
        .get("openapi")
        .and_then(|o| o.get("path"))
        .and_then(Value::as_str)
    {
        refs.files.push(path.to_string());
    }
    let charts: Vec<&Value> = items(doc.get("helmCharts")).collect();
    if !charts.is_empty() {
        for chart in &charts {
            refs.remote.extend(helm_chart_source(chart));
            refs.files.extend(strings(chart.get("valuesFile")));
            refs.files
                .extend(strings(chart.get("additionalValuesFiles")));
        }
        let home = doc
            .get("helmGlobals")
            .and_then(|g| g.get("chartHome"))
            .and_then(Value::as_str)
            .unwrap_or("charts");
        refs.dirs.push(home.to_string());
    }
    refs
}

/// A Helm chart that kustomize would pull from a repository, as `helm chart NAME from REPO`.
fn helm_chart_source(chart: &Value) -> Option<String> {
    let repo = chart.get("repo").and_then(Value::as_str)?.trim();
    if repo.is_empty() {
        return None;
    }
    let name = chart.get("name").and_then(Value::as_str).unwrap_or("?");
    Some(format!("helm chart {name} from {repo}"))
}

/// What a generator or transformer config (one or more YAML documents) fetches: the builtin
/// Helm generator pulls its chart from `repo`. Other plugins need `--enable-alpha-plugins` or
/// `--enable-exec`, which the privileged-args rule covers.
fn fetched_by_config(content: &[u8]) -> Result<Vec<String>, String> {
    let text = std::str::from_utf8(content).map_err(|_| "the file is not UTF-8".to_string())?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| yaml_error_summary(&e))?;
    Ok(docs
        .iter()
        .filter(|doc| {
            doc.get("kind").and_then(Value::as_str) == Some("HelmChartInflationGenerator")
        })
        .filter_map(helm_chart_source)
        .collect())
}

/// A string or a list of strings, as kustomization fields allow.
fn strings(value: Option<&Value>) -> impl Iterator<Item = String> + '_ {
    let list: Vec<String> = match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    list.into_iter()
}

fn items(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    value.and_then(Value::as_array).into_iter().flatten()
}

/// Inline patches and generator configs are YAML text, not paths.
fn is_path(entry: &str) -> bool {
    !entry.contains('\n') && !entry.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs_of(yaml: &str) -> References {
        references(&serde_saphyr::from_str::<Value>(yaml).unwrap())
    }

    #[test]
    fn every_field_that_names_a_file_is_collected() {
        let refs = refs_of(
            r#"
resources: [../../base, extra.yaml, https://github.com/acme/x//deploy?ref=v1]
components: [../../components/monitoring]
patches:
  - path: replicas.yaml
  - patch: |-
      - op: replace
        path: /spec/replicas
        value: 2
    target: {kind: Deployment}
patchesStrategicMerge:
  - memory.yaml
  - |-
    apiVersion: v1
    kind: ConfigMap
patchesJson6902:
  - path: json-patch.yaml
    target: {kind: Service, name: web}
configMapGenerator:
  - name: web
    files: [app.properties, nginx.conf=conf/nginx.conf]
    envs: [web.env]
secretGenerator:
  - name: creds
    env: creds.env
replacements:
  - path: replacement.yaml
crds: [crd.yaml]
configurations: [config.yaml]
openapi: {path: schema.json}
generators: [gen.yaml]
transformers: [../../transformers]
validators: [check.yaml]
helmCharts:
  - name: redis
    valuesFile: redis-values.yaml
    additionalValuesFiles: [redis-extra.yaml]
"#,
        );
        assert_eq!(
            refs.entries,
            [
                "../../base",
                "extra.yaml",
                "https://github.com/acme/x//deploy?ref=v1",
                "../../components/monitoring",
                "gen.yaml",
                "../../transformers",
                "check.yaml"
            ]
        );
        assert_eq!(
            refs.files,
            [
                "crd.yaml",
                "config.yaml",
                "memory.yaml",
                "replicas.yaml",
                "json-patch.yaml",
                "replacement.yaml",
                "app.properties",
                "conf/nginx.conf",
                "web.env",
                "creds.env",
                "schema.json",
                "redis-values.yaml",
                "redis-extra.yaml"
            ]
        );
        assert_eq!(refs.dirs, ["charts"]);
    }

    #[test]
    fn remote_bases_are_told_apart_from_local_paths() {
        assert!(is_remote("https://github.com/acme/base?ref=v1"));
        assert!(is_remote("github.com/acme/base//deploy?ref=v1"));
        assert!(is_remote("git@github.com:acme/base.git"));
        assert!(!is_remote("../base"));
        assert!(!is_remote("deployment.yaml"));
        assert!(!is_remote(".hidden/dir"));
    }

    #[test]
    fn every_spelling_of_a_fetch_is_remote() {
        for entry in [
            "ssh://git@github.com/acme/base.git//deploy?ref=v1",
            "git::https://example.com/acme/base.git",
            "file:///etc/kubernetes",
            "http://example.com/all.yaml",
            "gitlab.example.com/acme/base?ref=main",
        ] {
            assert!(is_remote(entry), "{entry}");
        }
        let refs = refs_of(
            "helmCharts:\n- name: local-chart\n- name: redis\n  repo: oci://r.example.com/charts\n",
        );
        assert_eq!(
            refs.remote,
            ["helm chart redis from oci://r.example.com/charts"]
        );
        assert_eq!(
            fetched_by_config(b"kind: PatchTransformer\n---\nkind: HelmChartInflationGenerator\nname: x\nrepo: https://c.example.com\n"),
            Ok(vec!["helm chart x from https://c.example.com".to_string()])
        );
        assert!(fetched_by_config(b"kind: [unclosed\n").is_err());
    }

    #[test]
    fn argocd_source_files_belong_to_their_overlay_only() {
        assert!(is_argocd_source_of(
            "overlays/prod/.argocd-source-web.yaml",
            "overlays/prod"
        ));
        assert!(is_argocd_source_of(
            "overlays/prod/.argocd-source.yaml",
            "overlays/prod"
        ));
        assert!(!is_argocd_source_of(
            "overlays/staging/.argocd-source.yaml",
            "overlays/prod"
        ));
        assert!(is_argocd_source_of(".argocd-source.yaml", "."));
    }
}
