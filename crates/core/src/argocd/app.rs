//! Argo CD `Application`s as far as rendering them from this repository goes: which path and
//! revision an application deploys, and the `spec.source.kustomize` settings Argo CD's repo
//! server applies to the kustomization (with `kustomize edit` and an appended `patches` list)
//! before it runs `kustomize build`. A diff that rendered the bare overlay would not show what
//! Argo CD deploys when an application adds a prefix, labels, a namespace or patches.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use serde_json::{Map, Value};

use crate::manifest::yaml_error_summary;

/// An Argo CD Application, as far as rendering it from a repository goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    pub name: String,
    /// metadata.namespace (where Argo CD runs), if set.
    pub namespace: Option<String>,
    /// `spec.project`; "default" when unset.
    pub project: String,
    /// spec.destination: server or name, and namespace.
    pub destination: String,
    pub destination_namespace: Option<String>,
    /// spec.syncPolicy.automated is set (and not `enabled: false`), and its prune flag.
    pub automated: bool,
    pub prune: bool,
    /// spec.source, or every entry of spec.sources.
    pub sources: Vec<AppSource>,
    /// The whole manifest, for diffs of the Application itself.
    pub manifest: Value,
}

/// One source of an application.
#[derive(Debug, Clone, PartialEq)]
pub struct AppSource {
    pub repo_url: String,
    /// None for a Helm chart source (`chart`), which is not rendered from this repository, and
    /// for a `ref` source without a path. Normalised: no leading "./", no trailing "/", "." for
    /// the repository root.
    pub path: Option<String>,
    /// As written; "" when unset (means HEAD).
    pub target_revision: String,
    pub chart: Option<String>,
    /// `ref` of a multi-source entry (used for its values files, and rendered too if it has a
    /// path).
    pub ref_name: Option<String>,
    /// The source's `kustomize` settings.
    pub kustomize: KustomizeSettings,
    /// Tools other than kustomize this source configures (`helm`, `directory`, `plugin`), named
    /// for a note.
    pub other_tools: Vec<String>,
}

/// `spec.source.kustomize`, parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KustomizeSettings {
    pub name_prefix: Option<String>,
    pub name_suffix: Option<String>,
    pub images: Vec<String>,
    pub common_labels: BTreeMap<String, String>,
    pub common_annotations: BTreeMap<String, String>,
    pub force_common_labels: bool,
    pub force_common_annotations: bool,
    pub label_without_selector: bool,
    pub label_include_templates: bool,
    pub namespace: Option<String>,
    /// name, count (the count may be an int or a string in the manifest).
    pub replicas: Vec<(String, i64)>,
    pub patches: Vec<Value>,
    /// As written, relative to the application's path.
    pub components: Vec<String>,
    pub ignore_missing_components: bool,
    /// Settings gitops-promote does not apply (`version`, `kubeVersion`, `apiVersions`,
    /// `commonAnnotationsEnvsubst`, unknown keys), named for a note.
    pub not_applied: Vec<String>,
}

impl KustomizeSettings {
    /// Whether the settings change anything Argo CD renders.
    pub fn is_empty(&self) -> bool {
        *self
            == KustomizeSettings {
                not_applied: self.not_applied.clone(),
                ..KustomizeSettings::default()
            }
    }
}

/// Parses one Application manifest (kind Application, apiVersion argoproj.io/*); an error names
/// the field.
pub fn parse(manifest: &Value) -> Result<Application, String> {
    let Value::Object(top) = manifest else {
        return Err("an Application must be a mapping".into());
    };
    let api_version = top.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if !api_version.starts_with("argoproj.io/") {
        return Err(format!(
            "apiVersion: expected argoproj.io/<version>, found '{api_version}'"
        ));
    }
    let kind = top.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind != "Application" {
        return Err(format!("kind: expected Application, found '{kind}'"));
    }
    let metadata = object(top.get("metadata"), "metadata")?;
    let name = match metadata.and_then(|m| m.get("name")) {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        _ => return Err("metadata.name: required".into()),
    };
    let namespace = opt_string(
        metadata.and_then(|m| m.get("namespace")),
        "metadata.namespace",
    )?;
    let spec = object(top.get("spec"), "spec")?.ok_or("spec: required")?;

    // Argo CD docs, "Projects" (user-guide/projects.md): every application belongs to one
    // project, `default` when none is given (an empty `project` reads as `default`).
    let project =
        opt_string(spec.get("project"), "spec.project")?.unwrap_or_else(|| "default".into());

    let destination =
        object(spec.get("destination"), "spec.destination")?.ok_or("spec.destination: required")?;
    let server = opt_string(destination.get("server"), "spec.destination.server")?;
    let dest_name = opt_string(destination.get("name"), "spec.destination.name")?;
    let destination_label = server
        .or(dest_name)
        .ok_or("spec.destination: needs `server` or `name`")?;
    let destination_namespace =
        opt_string(destination.get("namespace"), "spec.destination.namespace")?;

    // Argo CD docs, "Automated Sync Policy" (user-guide/auto_sync.md): `automated: {}` turns it
    // on, `prune: true` lets it delete; `enabled: false` keeps the block but switches it off.
    let sync_policy = object(spec.get("syncPolicy"), "spec.syncPolicy")?;
    let automated_block = match sync_policy.and_then(|p| p.get("automated")) {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map),
        Some(_) => return Err("spec.syncPolicy.automated: must be a mapping".into()),
    };
    let automated =
        automated_block.is_some_and(|a| !matches!(a.get("enabled"), Some(Value::Bool(false))));
    let prune = automated
        && bool_field(
            automated_block.and_then(|a| a.get("prune")),
            "spec.syncPolicy.automated.prune",
        )?;

    // Argo CD docs, "Multiple Sources for an Application" (user-guide/multiple_sources.md):
    // when `sources` is set, `source` is ignored.
    let sources = match spec.get("sources") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, s)| parse_source(s, &format!("spec.sources[{i}]")))
            .collect::<Result<Vec<_>, _>>()?,
        Some(Value::Array(_)) | None | Some(Value::Null) => match spec.get("source") {
            Some(source @ Value::Object(_)) => vec![parse_source(source, "spec.source")?],
            None | Some(Value::Null) => {
                return Err(if spec.contains_key("sourceHydrator") {
                    "spec.sourceHydrator: not supported (no spec.source or spec.sources)".into()
                } else {
                    "spec.source: required (or spec.sources)".into()
                });
            }
            Some(_) => return Err("spec.source: must be a mapping".into()),
        },
        Some(_) => return Err("spec.sources: must be a list".into()),
    };

    Ok(Application {
        name,
        namespace,
        project: if project.is_empty() {
            "default".into()
        } else {
            project
        },
        destination: destination_label,
        destination_namespace,
        automated,
        prune,
        sources,
        manifest: manifest.clone(),
    })
}

impl Application {
    /// The sources that render from `this_repo` with a `path` (kustomize or plain directory).
    pub fn sources_from<'a>(&'a self, this_repo: &str) -> Vec<&'a AppSource> {
        self.sources
            .iter()
            .filter(|s| s.path.is_some() && super::repo_url::same_repo(&s.repo_url, this_repo))
            .collect()
    }
}

fn parse_source(source: &Value, at: &str) -> Result<AppSource, String> {
    let Value::Object(map) = source else {
        return Err(format!("{at}: must be a mapping"));
    };
    let field = |key: &str| format!("{at}.{key}");
    let repo_url = opt_string(map.get("repoURL"), &field("repoURL"))?
        .filter(|u| !u.is_empty())
        .ok_or_else(|| format!("{}: required", field("repoURL")))?;
    let target_revision = match map.get("targetRevision") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        // A chart version written as `1.2` is a YAML number; Argo CD gets the text.
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(format!("{}: must be a string", field("targetRevision"))),
    };
    let chart = opt_string(map.get("chart"), &field("chart"))?.filter(|c| !c.is_empty());
    let ref_name = opt_string(map.get("ref"), &field("ref"))?.filter(|r| !r.is_empty());
    let raw_path = opt_string(map.get("path"), &field("path"))?.unwrap_or_default();
    // Argo CD docs, "Multiple Sources for an Application": a `ref` source without a path only
    // provides values files; with a path it is rendered as well. A `chart` comes from a Helm
    // repository, not from this one.
    let path = if chart.is_some() || (ref_name.is_some() && raw_path.is_empty()) {
        None
    } else {
        Some(normalise_path(&raw_path).map_err(|e| format!("{}: {e}", field("path")))?)
    };
    let kustomize = match map.get("kustomize") {
        None | Some(Value::Null) => KustomizeSettings::default(),
        Some(k) => parse_kustomize(k, &field("kustomize"))?,
    };
    let other_tools = ["helm", "directory", "plugin"]
        .into_iter()
        .filter(|tool| map.get(*tool).is_some_and(|v| !v.is_null()))
        .map(String::from)
        .collect();
    Ok(AppSource {
        repo_url,
        path,
        target_revision,
        chart,
        ref_name,
        kustomize,
        other_tools,
    })
}

/// A repository path without `./`, duplicate or trailing `/`; "." for the root. Argo CD
/// resolves the path inside the checkout and refuses one that leaves it.
fn normalise_path(path: &str) -> Result<String, String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!("'{path}' leads outside the repository"));
                }
            }
            part => parts.push(part),
        }
    }
    Ok(if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    })
}

fn parse_kustomize(value: &Value, at: &str) -> Result<KustomizeSettings, String> {
    let Value::Object(map) = value else {
        return Err(format!("{at}: must be a mapping"));
    };
    let field = |key: &str| format!("{at}.{key}");
    let mut settings = KustomizeSettings::default();
    for (key, value) in map {
        let here = field(key);
        match key.as_str() {
            "namePrefix" => settings.name_prefix = non_empty(opt_string(Some(value), &here)?),
            "nameSuffix" => settings.name_suffix = non_empty(opt_string(Some(value), &here)?),
            "namespace" => settings.namespace = non_empty(opt_string(Some(value), &here)?),
            "images" => settings.images = string_list(value, &here)?,
            "components" => settings.components = string_list(value, &here)?,
            "commonLabels" => settings.common_labels = string_map(value, &here)?,
            "commonAnnotations" => settings.common_annotations = string_map(value, &here)?,
            "forceCommonLabels" => settings.force_common_labels = bool_field(Some(value), &here)?,
            "forceCommonAnnotations" => {
                settings.force_common_annotations = bool_field(Some(value), &here)?
            }
            "labelWithoutSelector" => {
                settings.label_without_selector = bool_field(Some(value), &here)?
            }
            "labelIncludeTemplates" => {
                settings.label_include_templates = bool_field(Some(value), &here)?
            }
            "ignoreMissingComponents" => {
                settings.ignore_missing_components = bool_field(Some(value), &here)?
            }
            "replicas" => settings.replicas = replicas(value, &here)?,
            "patches" => {
                settings.patches = match value {
                    Value::Null => Vec::new(),
                    Value::Array(items) => items.clone(),
                    _ => return Err(format!("{here}: must be a list")),
                }
            }
            _ => {
                let set = match value {
                    Value::Null | Value::Bool(false) => false,
                    Value::String(s) => !s.is_empty(),
                    Value::Array(a) => !a.is_empty(),
                    _ => true,
                };
                if set {
                    settings.not_applied.push(key.clone());
                }
            }
        }
    }
    Ok(settings)
}

fn replicas(value: &Value, at: &str) -> Result<Vec<(String, i64)>, String> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => return Err(format!("{at}: must be a list")),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let here = format!("{at}[{i}]");
            let name = opt_string(item.get("name"), &format!("{here}.name"))?
                .filter(|n| !n.is_empty())
                .ok_or_else(|| format!("{here}.name: required"))?;
            // Argo CD's `KustomizeReplica.Count` is an IntOrString; a string must be an integer.
            let count = match item.get("count") {
                Some(Value::Number(n)) => n
                    .as_i64()
                    .ok_or_else(|| format!("{here}.count: expected an integer, found {n}"))?,
                Some(Value::String(s)) => s
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| format!("{here}.count: expected an integer, found '{s}'"))?,
                _ => return Err(format!("{here}.count: required (an integer)")),
            };
            Ok((name, count))
        })
        .collect()
}

/// Whether an app with this `targetRevision` deploys from `branch`: equal names (also
/// `refs/heads/<branch>`), and `""`/`HEAD` mean the repository's default branch.
pub fn tracks(target_revision: &str, branch: &str, default_branch: &str) -> bool {
    let branch = branch.strip_prefix("refs/heads/").unwrap_or(branch);
    let default_branch = default_branch
        .strip_prefix("refs/heads/")
        .unwrap_or(default_branch);
    let revision = target_revision.trim();
    // Argo CD docs, "Tracking and Deployment Strategies" (user-guide/tracking_strategies.md):
    // `HEAD` (or no revision) follows the repository's default branch; a branch name follows
    // that branch; tags and commit SHAs pin a revision, which no branch tracks.
    if revision.is_empty() || revision == "HEAD" {
        return branch == default_branch;
    }
    revision.strip_prefix("refs/heads/").unwrap_or(revision) == branch
}

/// The two override files Argo CD reads from an application's source directory, in the order it
/// merges them: `.argocd-source.yaml`, then `.argocd-source-<app_name>.yaml`.
pub fn override_file_paths(source_path: &str, app_name: &str) -> [String; 2] {
    let prefix = if source_path == "." || source_path.is_empty() {
        String::new()
    } else {
        format!("{}/", source_path.trim_end_matches('/'))
    };
    [
        format!("{prefix}.argocd-source.yaml"),
        format!("{prefix}.argocd-source-{app_name}.yaml"),
    ]
}

/// The kustomize settings after Argo CD's parameter override files. `manifest_source` is the
/// application's `spec.source` (or its `spec.sources` entry) as written; `files` are the
/// override files present in the source's directory as (repo path, bytes), in Argo CD's order
/// (see [`override_file_paths`]: the generic file, then the one named for this application, so
/// each application sharing a directory gets its own). Returns the merged settings and the
/// files applied.
pub fn with_override_files(
    manifest_source: &Value,
    files: &[(String, Vec<u8>)],
) -> Result<(KustomizeSettings, Vec<String>), String> {
    // Argo CD docs, "Parameter Overrides" (user-guide/parameters.md, "Store Overrides In Git"):
    // `.argocd-source.yaml` and then `.argocd-source-<appName>.yaml` are merged into the
    // source; the repo server applies them as JSON merge patches, so a list in the later file
    // replaces the earlier one and `null` removes a setting.
    let mut merged = manifest_source.clone();
    let mut applied = Vec::new();
    let mut settings = settings_of(&merged, "spec.source.kustomize")?;
    for (path, bytes) in files {
        let text = std::str::from_utf8(bytes).map_err(|_| format!("{path}: is not UTF-8 text"))?;
        let patch: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_saphyr::from_str(text)
                .map_err(|e| format!("{path}: is not valid YAML: {}", yaml_error_summary(&e)))?
        };
        match patch {
            // An empty file patches nothing: the merged null cannot be decoded into a source,
            // so the source stays as it was.
            Value::Null => {}
            Value::Object(_) => super::source::merge_patch(&mut merged, patch),
            _ => {
                return Err(format!(
                    "{path}: must be a mapping (e.g. `kustomize: {{images: [...]}}`)"
                ));
            }
        }
        settings = settings_of(&merged, "kustomize").map_err(|e| format!("{path}: {e}"))?;
        applied.push(path.clone());
    }
    Ok((settings, applied))
}

fn settings_of(source: &Value, at: &str) -> Result<KustomizeSettings, String> {
    match source.get("kustomize") {
        None | Some(Value::Null) => Ok(KustomizeSettings::default()),
        Some(k) => parse_kustomize(k, at),
    }
}

/// `settings` with the components Argo CD would skip removed: with `ignoreMissingComponents`,
/// a component whose directory does not exist under `app_dir` (the application's directory in
/// a checkout) is not added. Notes name what was skipped.
pub fn drop_missing_components(
    settings: &KustomizeSettings,
    app_dir: &Path,
) -> (KustomizeSettings, Vec<String>) {
    let mut kept = settings.clone();
    let mut notes = Vec::new();
    if !settings.ignore_missing_components || settings.components.is_empty() {
        return (kept, notes);
    }
    // Argo CD docs, "Components" (user-guide/kustomize.md): with `ignoreMissingComponents`,
    // components that do not exist are not appended to the kustomization. The repo server
    // resolves each one inside the application's directory as a root (a leading `..` stays at
    // that root), so this does the same.
    kept.components.retain(|component| {
        let present = app_dir.join(confined(component)).exists();
        if !present {
            notes.push(format!(
                "component {component} not added: it does not exist (ignoreMissingComponents)"
            ));
        }
        present
    });
    (kept, notes)
}

/// `path` resolved as if the directory it is joined to were the filesystem root.
fn confined(path: &str) -> std::path::PathBuf {
    let mut out = std::path::PathBuf::new();
    for part in Path::new(path).components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Applies `settings` to a parsed kustomization (the overlay's kustomization.yaml as a Value)
/// the way Argo CD's repo server does before `kustomize build`: the `kustomize edit` commands
/// it runs, in its order (set nameprefix, set namesuffix, set image, set replicas, add label
/// [--force] [--without-selector] [--include-templates], add annotation [--force], set
/// namespace), then the `patches` it appends, then add component. Components are added as
/// written; with `ignoreMissingComponents`, filter them first with
/// [`drop_missing_components`]. Returns notes for a reader (settings not applied). An edit
/// kustomize would refuse is an Err with kustomize's reason, as Argo CD would fail to render
/// the app.
pub fn apply_kustomize(
    kustomization: &mut Value,
    settings: &KustomizeSettings,
) -> Result<Vec<String>, String> {
    if !kustomization.is_object() {
        return Err("the kustomization is not a mapping".into());
    }
    let mut notes = Vec::new();
    if !settings.not_applied.is_empty() {
        notes.push(format!(
            "not applied by gitops-promote: {}",
            settings
                .not_applied
                .iter()
                .map(|k| format!("kustomize.{k}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }

    // Argo CD docs, "Kustomize" (user-guide/kustomize.md): namePrefix and nameSuffix are
    // applied with `kustomize edit set nameprefix/namesuffix`, which replace the field.
    let doc = kustomization.as_object_mut().expect("checked above");
    if let Some(prefix) = &settings.name_prefix {
        doc.insert("namePrefix".into(), Value::String(prefix.clone()));
    }
    if let Some(suffix) = &settings.name_suffix {
        doc.insert("nameSuffix".into(), Value::String(suffix.clone()));
    }

    // Argo CD docs, "Kustomize": `images` are passed to one `kustomize edit set image` call.
    if !settings.images.is_empty() {
        if settings.images.iter().any(|i| i.contains('$')) {
            notes.push(
                "Argo CD substitutes build environment variables (e.g. $ARGOCD_APP_REVISION) in \
                 kustomize.images; gitops-promote uses them as written"
                    .into(),
            );
        }
        super::source::set_images(kustomization, &settings.images)
            .map_err(|e| format!("kustomize edit set image: {e}"))?;
    }
    let doc = kustomization
        .as_object_mut()
        .expect("set_images keeps a mapping");

    // Argo CD docs, "Kustomize": `replicas` are applied with `kustomize edit set replicas
    // <name>=<count>`, which replaces entries of the same name and sorts the list by name.
    if !settings.replicas.is_empty() {
        set_replicas(doc, &settings.replicas)?;
    }

    // Argo CD docs, "Kustomize": commonLabels go through `kustomize edit add label`, with
    // `--force` for forceCommonLabels, `--without-selector` for labelWithoutSelector and
    // `--include-templates` for labelIncludeTemplates.
    if !settings.common_labels.is_empty() {
        if settings.common_labels.values().any(|v| v.contains('$')) {
            notes.push(
                "Argo CD substitutes build environment variables (e.g. $ARGOCD_APP_NAME) in \
                 kustomize.commonLabels values; gitops-promote uses them as written"
                    .into(),
            );
        }
        add_labels(doc, settings)?;
    }
    // Argo CD docs, "Kustomize": commonAnnotations go through `kustomize edit add annotation`,
    // with `--force` for forceCommonAnnotations.
    if !settings.common_annotations.is_empty() {
        add_annotations(doc, settings)?;
    }

    // Argo CD docs, "Kustomize": `namespace` is applied with `kustomize edit set namespace`,
    // which sets the kustomization's `namespace` field.
    if let Some(namespace) = &settings.namespace {
        if let Err(reason) = dns_label(namespace) {
            return Err(format!(
                "kustomize edit set namespace: \"{namespace}\" is not a valid namespace name: \
                 {reason}"
            ));
        }
        doc.insert("namespace".into(), Value::String(namespace.clone()));
    }

    // Argo CD docs, "Kustomize" → "Patches": the application's patches are appended to the
    // kustomization's own `patches` (there is no edit command for them).
    if !settings.patches.is_empty() {
        match doc.get_mut("patches") {
            None | Some(Value::Null) => {
                doc.insert("patches".into(), Value::Array(settings.patches.clone()));
            }
            Some(Value::Array(existing)) => existing.extend(settings.patches.iter().cloned()),
            Some(_) => {
                return Err(
                    "expected the kustomization's `patches` to be a list, so the application's \
                     patches could be appended"
                        .into(),
                );
            }
        }
    }

    // Argo CD docs, "Kustomize" → "Components": components are added with `kustomize edit add
    // component`, run in the application's directory, so their paths are relative to it.
    if !settings.components.is_empty() {
        let list = match doc.get_mut("components") {
            None | Some(Value::Null) => {
                doc.insert("components".into(), Value::Array(Vec::new()));
                doc.get_mut("components").and_then(Value::as_array_mut)
            }
            Some(Value::Array(_)) => doc.get_mut("components").and_then(Value::as_array_mut),
            Some(_) => return Err("the kustomization's `components` is not a list".into()),
        }
        .expect("a list was ensured above");
        for component in &settings.components {
            // kustomize skips a component the kustomization already lists.
            if !list.iter().any(|c| c.as_str() == Some(component)) {
                list.push(Value::String(component.clone()));
            }
        }
    }
    Ok(notes)
}

fn set_replicas(doc: &mut Map<String, Value>, replicas: &[(String, i64)]) -> Result<(), String> {
    let mut by_name: BTreeMap<String, Value> = BTreeMap::new();
    match doc.get("replicas") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                let name = item
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                by_name.insert(name, item.clone());
            }
        }
        Some(_) => return Err("the kustomization's `replicas` is not a list".into()),
    }
    for (name, count) in replicas {
        if name.contains('=') {
            return Err(format!(
                "kustomize edit set replicas: invalid format of replica '{name}={count}', use \
                 <name>=<count>"
            ));
        }
        let mut entry = Map::new();
        entry.insert("name".into(), Value::String(name.clone()));
        entry.insert("count".into(), Value::from(*count));
        by_name.insert(name.clone(), Value::Object(entry));
    }
    doc.insert(
        "replicas".into(),
        Value::Array(by_name.into_values().collect()),
    );
    Ok(())
}

/// kustomize's `edit add label`: without `--without-selector` the pairs go to `commonLabels`
/// (selectors and templates too), and a key already there is refused unless `--force`; with
/// it, each call appends one `labels:` entry (`includeSelectors` false, `includeTemplates` as
/// asked) holding all the pairs.
fn add_labels(doc: &mut Map<String, Value>, settings: &KustomizeSettings) -> Result<(), String> {
    let pairs = edit_pairs(&settings.common_labels);
    for (key, value) in &pairs {
        label_key(key)
            .and_then(|()| label_value(value))
            .map_err(|reason| format!("kustomize edit add label: {key}:{value}: {reason}"))?;
    }
    if settings.label_include_templates && !settings.label_without_selector {
        return Err(
            "kustomize edit add label: --without-selector flag must be specified for \
             --include-templates to work (labelIncludeTemplates needs labelWithoutSelector)"
                .into(),
        );
    }
    if settings.label_without_selector {
        let mut entry = Map::new();
        entry.insert("pairs".into(), string_object(&pairs));
        if settings.label_include_templates {
            entry.insert("includeTemplates".into(), Value::Bool(true));
        }
        match doc.get_mut("labels") {
            None | Some(Value::Null) => {
                doc.insert("labels".into(), Value::Array(vec![Value::Object(entry)]));
            }
            Some(Value::Array(list)) => list.push(Value::Object(entry)),
            Some(_) => return Err("the kustomization's `labels` is not a list".into()),
        }
        return Ok(());
    }
    add_to_map(
        doc,
        "commonLabels",
        &pairs,
        settings.force_common_labels,
        "label",
    )
}

fn add_annotations(
    doc: &mut Map<String, Value>,
    settings: &KustomizeSettings,
) -> Result<(), String> {
    let pairs = edit_pairs(&settings.common_annotations);
    for key in pairs.keys() {
        label_key(key).map_err(|reason| {
            format!("kustomize edit add annotation: {key}: invalid annotation key: {reason}")
        })?;
    }
    add_to_map(
        doc,
        "commonAnnotations",
        &pairs,
        settings.force_common_annotations,
        "annotation",
    )
}

/// The pairs as kustomize reads them back from `key:value` arguments: surrounding double
/// quotes on a value are dropped.
fn edit_pairs(map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    map.iter()
        .map(|(k, v)| {
            let v = if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
                v[1..v.len() - 1].to_string()
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect()
}

fn add_to_map(
    doc: &mut Map<String, Value>,
    field: &str,
    pairs: &BTreeMap<String, String>,
    force: bool,
    kind: &str,
) -> Result<(), String> {
    let target = match doc.get_mut(field) {
        None | Some(Value::Null) => {
            doc.insert(field.into(), Value::Object(Map::new()));
            doc.get_mut(field).and_then(Value::as_object_mut)
        }
        Some(Value::Object(_)) => doc.get_mut(field).and_then(Value::as_object_mut),
        Some(_) => return Err(format!("the kustomization's `{field}` is not a mapping")),
    }
    .expect("a mapping was ensured above");
    for (key, value) in pairs {
        if target.contains_key(key) && !force {
            return Err(format!(
                "kustomize edit add {kind}: {kind} {key} already in kustomization file \
                 (Argo CD overrides it only with force{}s)",
                if kind == "label" {
                    "CommonLabel"
                } else {
                    "CommonAnnotation"
                }
            ));
        }
        target.insert(key.clone(), Value::String(value.clone()));
    }
    Ok(())
}

fn string_object(pairs: &BTreeMap<String, String>) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// A Kubernetes qualified name with an optional DNS-subdomain prefix, as kustomize's validator
/// checks label and annotation keys.
fn label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let ok = !prefix.is_empty()
            && prefix.len() <= 253
            && prefix.split('.').all(|part| dns_label(part).is_ok());
        if !ok {
            return Err(format!("prefix '{prefix}' must be a DNS subdomain"));
        }
    }
    if name.is_empty() || name.len() > 63 {
        return Err("name part must be 1 to 63 characters".into());
    }
    if !qualified(name) {
        return Err(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and \
                    start and end with an alphanumeric character"
                .into(),
        );
    }
    Ok(())
}

fn label_value(value: &str) -> Result<(), String> {
    if value.len() > 63 {
        return Err("a label value must be no more than 63 characters".into());
    }
    if !value.is_empty() && !qualified(value) {
        return Err(
            "a valid label value must be empty or consist of alphanumeric characters, \
                    '-', '_' or '.', and start and end with an alphanumeric character"
                .into(),
        );
    }
    Ok(())
}

fn qualified(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn dns_label(s: &str) -> Result<(), String> {
    let bytes = s.as_bytes();
    let ok = !s.is_empty()
        && s.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-';
    if ok {
        Ok(())
    } else {
        Err(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \
             '-', and must start and end with an alphanumeric character"
                .into(),
        )
    }
}

fn object<'a>(
    value: Option<&'a Value>,
    at: &str,
) -> Result<Option<&'a Map<String, Value>>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(format!("{at}: must be a mapping")),
    }
}

fn opt_string(value: Option<&Value>, at: &str) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{at}: must be a string, found {other}")),
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

fn bool_field(value: Option<&Value>, at: &str) -> Result<bool, String> {
    match value {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(format!("{at}: must be true or false, found {other}")),
    }
}

fn string_list(value: &Value, at: &str) -> Result<Vec<String>, String> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!("{at}[{i}]: must be a string, found {other}")),
            })
            .collect(),
        _ => Err(format!("{at}: must be a list of strings")),
    }
}

fn string_map(value: &Value, at: &str) -> Result<BTreeMap<String, String>, String> {
    match value {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(format!(
                    "{at}.{k}: must be a string (quote it), found {other}"
                )),
            })
            .collect(),
        _ => Err(format!("{at}: must be a mapping of strings")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn yaml(text: &str) -> Value {
        serde_saphyr::from_str(text).unwrap()
    }

    const REPO: &str = "https://github.com/argoproj/argocd-example-apps.git";

    #[test]
    fn parses_the_docs_single_source_application() {
        // Argo CD docs, "Declarative Setup": the guestbook Application.
        let app = parse(&yaml(
            r#"
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: guestbook
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://github.com/argoproj/argocd-example-apps.git
    targetRevision: HEAD
    path: ./guestbook/
    kustomize:
      namePrefix: prod-
      commonLabels:
        team: web
      replicas:
        - name: guestbook-ui
          count: "4"
      version: v5.4.3
  destination:
    server: https://kubernetes.default.svc
    namespace: guestbook
  syncPolicy:
    automated:
      prune: true
      selfHeal: true
"#,
        ))
        .unwrap();
        assert_eq!(app.name, "guestbook");
        assert_eq!(app.namespace.as_deref(), Some("argocd"));
        assert_eq!(app.project, "default");
        assert_eq!(app.destination, "https://kubernetes.default.svc");
        assert_eq!(app.destination_namespace.as_deref(), Some("guestbook"));
        assert!(app.automated && app.prune);
        let [source] = app.sources.as_slice() else {
            panic!("one source")
        };
        assert_eq!(source.path.as_deref(), Some("guestbook"));
        assert_eq!(source.target_revision, "HEAD");
        assert_eq!(source.kustomize.name_prefix.as_deref(), Some("prod-"));
        assert_eq!(source.kustomize.common_labels["team"], "web");
        assert_eq!(source.kustomize.replicas, [("guestbook-ui".to_string(), 4)]);
        assert_eq!(source.kustomize.not_applied, ["version"]);
        assert_eq!(
            app.sources_from("git@github.com:argoproj/argocd-example-apps")
                .len(),
            1
        );
        assert!(app.sources_from("https://github.com/other/repo").is_empty());
        assert_eq!(app.manifest["metadata"]["name"], "guestbook");
    }

    #[test]
    fn parses_the_docs_multi_source_application_with_a_ref() {
        // Argo CD docs, "Multiple Sources for an Application": a chart with values from git.
        let app = parse(&yaml(
            r#"
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: prometheus
spec:
  project: default
  destination:
    name: in-cluster
    namespace: monitoring
  source:
    repoURL: https://ignored.example.com/repo.git
    path: ignored
  sources:
  - repoURL: 'https://prometheus-community.github.io/helm-charts'
    chart: prometheus
    targetRevision: 15.7.1
    helm:
      valueFiles:
      - $values/charts/prometheus/values.yaml
  - repoURL: 'https://git.example.com/org/value-files.git'
    targetRevision: dev
    ref: values
  - repoURL: 'https://git.example.com/org/value-files.git'
    targetRevision: dev
    path: overlays/dev
    ref: rendered
  syncPolicy:
    automated:
      enabled: false
"#,
        ))
        .unwrap();
        assert_eq!(app.destination, "in-cluster");
        assert!(!app.automated && !app.prune);
        assert_eq!(app.sources.len(), 3);
        let chart = &app.sources[0];
        assert_eq!(chart.chart.as_deref(), Some("prometheus"));
        assert_eq!(chart.path, None);
        assert_eq!(chart.target_revision, "15.7.1");
        assert_eq!(chart.other_tools, ["helm"]);
        let values = &app.sources[1];
        assert_eq!(values.ref_name.as_deref(), Some("values"));
        assert_eq!(values.path, None);
        let rendered = app.sources_from("https://git.example.com/org/value-files");
        assert_eq!(rendered.len(), 1);
        assert_eq!(rendered[0].path.as_deref(), Some("overlays/dev"));
        assert_eq!(rendered[0].ref_name.as_deref(), Some("rendered"));
    }

    #[test]
    fn parses_a_helm_chart_source_as_not_rendered_here() {
        let app = parse(&yaml(
            r#"
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: sealed-secrets
spec:
  project: ""
  source:
    chart: sealed-secrets
    repoURL: https://bitnami-labs.github.io/sealed-secrets
    targetRevision: 1.16
    helm:
      releaseName: sealed-secrets
  destination:
    server: "https://kubernetes.default.svc"
    namespace: kubeseal
"#,
        ))
        .unwrap();
        assert_eq!(app.project, "default");
        assert!(!app.automated);
        let source = &app.sources[0];
        assert_eq!(source.path, None);
        assert_eq!(source.target_revision, "1.16");
        assert!(
            app.sources_from("https://bitnami-labs.github.io/sealed-secrets")
                .is_empty()
        );
    }

    #[test]
    fn normalises_paths() {
        assert_eq!(normalise_path("").unwrap(), ".");
        assert_eq!(normalise_path("./").unwrap(), ".");
        assert_eq!(normalise_path("/apps//web/./").unwrap(), "apps/web");
        assert_eq!(normalise_path("apps/web/../api").unwrap(), "apps/api");
        assert!(normalise_path("../elsewhere").is_err());
    }

    #[test]
    fn errors_name_the_field() {
        let base = |spec: Value| {
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                   "metadata": {"name": "a"}, "spec": spec})
        };
        let dest = json!({"server": "https://kubernetes.default.svc"});
        let cases = [
            (json!({"kind": "Application"}), "apiVersion"),
            (
                json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject"}),
                "kind: expected Application",
            ),
            (
                base(json!({"source": {"repoURL": REPO}})),
                "spec.destination: required",
            ),
            (
                base(json!({"destination": dest, "sources": [{"repoURL": REPO}, {"path": "x"}]})),
                "spec.sources[1].repoURL: required",
            ),
            (
                base(json!({"destination": dest, "source": {"repoURL": REPO,
                    "kustomize": {"replicas": [{"name": "web", "count": "two"}]}}})),
                "spec.source.kustomize.replicas[0].count: expected an integer, found 'two'",
            ),
            (
                base(json!({"destination": dest, "source": {"repoURL": REPO,
                    "kustomize": {"commonLabels": {"tier": 1}}}})),
                "spec.source.kustomize.commonLabels.tier: must be a string",
            ),
            (
                base(json!({"destination": dest, "source": {"repoURL": REPO, "path": "../x"}})),
                "spec.source.path: '../x' leads outside the repository",
            ),
            (base(json!({"destination": dest})), "spec.source: required"),
        ];
        for (manifest, expected) in cases {
            let err = parse(&manifest).unwrap_err();
            assert!(err.contains(expected), "{err} should contain {expected}");
        }
        assert!(parse(&json!("text")).is_err());
    }

    #[test]
    fn tracks_branches_and_the_default_branch() {
        assert!(tracks("main", "main", "main"));
        assert!(tracks("refs/heads/release", "release", "main"));
        assert!(tracks("release", "refs/heads/release", "main"));
        assert!(tracks("", "main", "main"));
        assert!(tracks("HEAD", "main", "main"));
        assert!(!tracks("HEAD", "release", "main"));
        assert!(!tracks("", "release", "main"));
        assert!(!tracks("v1.2.0", "main", "main"));
        assert!(!tracks("main", "release", "main"));
    }

    fn file(path: &str, text: &str) -> (String, Vec<u8>) {
        (path.to_string(), text.as_bytes().to_vec())
    }

    #[test]
    fn override_files_apply_per_application() {
        assert_eq!(
            override_file_paths("apps/web", "web-prod"),
            [
                "apps/web/.argocd-source.yaml",
                "apps/web/.argocd-source-web-prod.yaml"
            ]
        );
        assert_eq!(override_file_paths(".", "a")[0], ".argocd-source.yaml");

        let source = json!({"repoURL": REPO, "path": "apps/web",
            "kustomize": {"namePrefix": "web-", "images": ["nginx:1.0"], "commonLabels": {"a": "b"}}});
        let generic = file(
            "apps/web/.argocd-source.yaml",
            "kustomize:\n  images: [nginx:1.25]\n",
        );
        let prod = file(
            "apps/web/.argocd-source-web-prod.yaml",
            "kustomize:\n  namePrefix: prod-\n  commonLabels: null\n",
        );
        let (settings, applied) =
            with_override_files(&source, &[generic.clone(), prod.clone()]).unwrap();
        assert_eq!(applied, [generic.0.clone(), prod.0.clone()]);
        assert_eq!(settings.name_prefix.as_deref(), Some("prod-"));
        assert_eq!(settings.images, ["nginx:1.25"]);
        assert!(settings.common_labels.is_empty());

        // Another application in the same directory reads only the generic file and its own.
        let (settings, _) = with_override_files(&source, &[generic]).unwrap();
        assert_eq!(settings.name_prefix.as_deref(), Some("web-"));
        assert_eq!(settings.common_labels["a"], "b");

        let (settings, applied) =
            with_override_files(&source, &[file("apps/web/.argocd-source.yaml", "\n")]).unwrap();
        assert_eq!(settings.images, ["nginx:1.0"]);
        assert_eq!(applied.len(), 1);

        let err = with_override_files(
            &source,
            &[file(
                "apps/web/.argocd-source.yaml",
                "kustomize:\n  images: nginx\n",
            )],
        )
        .unwrap_err();
        assert!(
            err.starts_with("apps/web/.argocd-source.yaml: kustomize.images"),
            "{err}"
        );
        let err =
            with_override_files(&source, &[file("x/.argocd-source.yaml", "- a\n")]).unwrap_err();
        assert!(err.contains("must be a mapping"), "{err}");
        let err =
            with_override_files(&source, &[file("x/.argocd-source.yaml", "a: [\n")]).unwrap_err();
        assert!(
            err.contains("x/.argocd-source.yaml: is not valid YAML"),
            "{err}"
        );
    }

    fn settings(kustomize: Value) -> KustomizeSettings {
        parse_kustomize(&kustomize, "kustomize").unwrap()
    }

    #[test]
    fn edits_the_kustomization_like_kustomize_edit() {
        let mut k = json!({
            "resources": ["../base"],
            "commonLabels": {"app": "web"},
            "replicas": [{"name": "worker", "count": 1}, {"name": "web", "count": 1}],
            "patches": [{"path": "own.yaml"}],
            "components": ["../components/a"]
        });
        let notes = apply_kustomize(
            &mut k,
            &settings(json!({
                "namePrefix": "p-", "nameSuffix": "-s", "namespace": "prod",
                "images": ["nginx:1.25"],
                "replicas": [{"name": "web", "count": 3}, {"name": "api", "count": "2"}],
                "commonLabels": {"team": "\"core\""},
                "commonAnnotations": {"owner": "me"},
                "patches": [{"path": "extra.yaml"}],
                "components": ["../components/a", "../components/b"],
                "kubeVersion": "1.30"
            })),
        )
        .unwrap();
        assert_eq!(
            notes,
            ["not applied by gitops-promote: kustomize.kubeVersion"]
        );
        assert_eq!(
            k,
            json!({
                "resources": ["../base"],
                "commonLabels": {"app": "web", "team": "core"},
                "replicas": [
                    {"name": "api", "count": 2},
                    {"name": "web", "count": 3},
                    {"name": "worker", "count": 1}
                ],
                "patches": [{"path": "own.yaml"}, {"path": "extra.yaml"}],
                "components": ["../components/a", "../components/b"],
                "namePrefix": "p-",
                "nameSuffix": "-s",
                "images": [{"name": "nginx", "newTag": "1.25"}],
                "commonAnnotations": {"owner": "me"},
                "namespace": "prod"
            })
        );
    }

    #[test]
    fn labels_without_selector_append_a_labels_entry() {
        let mut k = json!({"commonLabels": {"app": "web"}, "labels": [{"pairs": {"x": "y"}}]});
        apply_kustomize(
            &mut k,
            &settings(json!({"commonLabels": {"app": "other", "team": "core"},
                "labelWithoutSelector": true, "labelIncludeTemplates": true})),
        )
        .unwrap();
        assert_eq!(
            k["labels"],
            json!([{"pairs": {"x": "y"}},
                   {"pairs": {"app": "other", "team": "core"}, "includeTemplates": true}])
        );
        assert_eq!(k["commonLabels"], json!({"app": "web"}));
    }

    #[test]
    fn refuses_what_kustomize_edit_refuses() {
        let refuse =
            |k: Value, s: Value| apply_kustomize(&mut k.clone(), &settings(s)).unwrap_err();
        let err = refuse(
            json!({"commonLabels": {"app": "web"}}),
            json!({"commonLabels": {"app": "x"}}),
        );
        assert!(
            err.contains("label app already in kustomization file"),
            "{err}"
        );
        let mut k = json!({"commonLabels": {"app": "web"}});
        apply_kustomize(
            &mut k,
            &settings(json!({"commonLabels": {"app": "x"}, "forceCommonLabels": true})),
        )
        .unwrap();
        assert_eq!(k["commonLabels"]["app"], "x");
        let err = refuse(
            json!({"commonAnnotations": {"note": "a"}}),
            json!({"commonAnnotations": {"note": "b"}}),
        );
        assert!(
            err.contains("annotation note already in kustomization file"),
            "{err}"
        );
        let err = refuse(json!({}), json!({"namespace": "Prod_1"}));
        assert!(
            err.contains("\"Prod_1\" is not a valid namespace name"),
            "{err}"
        );
        let err = refuse(json!({}), json!({"commonLabels": {"team": "a b"}}));
        assert!(err.contains("valid label value"), "{err}");
        let err = refuse(
            json!({}),
            json!({"commonLabels": {"team": "a"}, "labelIncludeTemplates": true}),
        );
        assert!(
            err.contains("--without-selector flag must be specified"),
            "{err}"
        );
        let err = refuse(
            json!({"patches": "x"}),
            json!({"patches": [{"path": "p.yaml"}]}),
        );
        assert!(err.contains("`patches` to be a list"), "{err}");
        let err = refuse(json!({}), json!({"images": ["nginx"]}));
        assert!(err.starts_with("kustomize edit set image"), "{err}");
        assert!(apply_kustomize(&mut json!([]), &KustomizeSettings::default()).is_err());
    }

    #[test]
    fn drops_missing_components_inside_the_app_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("overlay/present")).unwrap();
        std::fs::create_dir_all(dir.path().join("shared")).unwrap();
        let s = settings(json!({"components": ["present", "absent", "../shared"],
            "ignoreMissingComponents": true}));
        let (kept, notes) = drop_missing_components(&s, &dir.path().join("overlay"));
        // `../shared` is resolved with the app directory as its root, as Argo CD does.
        assert_eq!(kept.components, ["present"]);
        assert_eq!(notes.len(), 2);
        let s = settings(json!({"components": ["absent"]}));
        assert_eq!(
            drop_missing_components(&s, dir.path()).0.components,
            ["absent"]
        );
    }

    /// Renders `kustomization` in `dir` with the real kustomize (kubectl's); None when kubectl
    /// is not installed.
    fn render(dir: &Path, kustomization: &Value) -> Option<Vec<Value>> {
        std::fs::write(
            dir.join("kustomization.yaml"),
            serde_json::to_string_pretty(kustomization).unwrap(),
        )
        .unwrap();
        let out = match std::process::Command::new("kubectl")
            .arg("kustomize")
            .arg(dir)
            .output()
        {
            Ok(out) => out,
            Err(_) => {
                eprintln!("kubectl not found; skipping the kustomize rendering check");
                return None;
            }
        };
        assert!(
            out.status.success(),
            "kustomize failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(serde_saphyr::from_multiple(&String::from_utf8(out.stdout).unwrap()).unwrap())
    }

    fn write_base(root: &Path) {
        let base = root.join("base");
        std::fs::create_dir_all(&base).unwrap();
        std::fs::write(
            base.join("kustomization.yaml"),
            "resources: [deploy.yaml, service.yaml]\n",
        )
        .unwrap();
        std::fs::write(
            base.join("deploy.yaml"),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {app: web}\n\
             spec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    \
             metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        \
             image: nginx:1.0\n",
        )
        .unwrap();
        std::fs::write(
            base.join("service.yaml"),
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  \
             ports: [{port: 80}]\n",
        )
        .unwrap();
        let component = root.join("components/extra");
        std::fs::create_dir_all(&component).unwrap();
        std::fs::write(
            component.join("kustomization.yaml"),
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [cm.yaml]\n",
        )
        .unwrap();
        std::fs::write(
            component.join("cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata: {a: b}\n",
        )
        .unwrap();
        std::fs::create_dir_all(root.join("overlay")).unwrap();
    }

    fn find<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
        objects
            .iter()
            .find(|o| o["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {objects:?}"))
    }

    #[test]
    fn kustomize_renders_the_applied_settings() {
        let dir = tempfile::tempdir().unwrap();
        write_base(dir.path());
        let overlay = dir.path().join("overlay");
        let mut k = json!({"resources": ["../base"]});
        let s = settings(json!({
            "namePrefix": "prod-", "nameSuffix": "-v2", "namespace": "shop",
            "images": ["nginx:1.25"],
            "replicas": [{"name": "web", "count": 3}],
            "commonLabels": {"team": "core"},
            "commonAnnotations": {"owner": "platform"},
            "patches": [{"target": {"kind": "Deployment"}, "patch":
                "- op: add\n  path: /spec/template/spec/containers/0/env\n  value: [{name: MODE, value: prod}]\n"}],
            "components": ["../components/extra"]
        }));
        apply_kustomize(&mut k, &s).unwrap();
        let Some(objects) = render(&overlay, &k) else {
            return;
        };
        let deploy = find(&objects, "Deployment");
        assert_eq!(deploy["metadata"]["name"], "prod-web-v2");
        assert_eq!(deploy["metadata"]["namespace"], "shop");
        assert_eq!(deploy["metadata"]["annotations"]["owner"], "platform");
        assert_eq!(deploy["spec"]["replicas"], 3);
        assert_eq!(
            deploy["spec"]["selector"]["matchLabels"],
            json!({"app": "web", "team": "core"})
        );
        let container = &deploy["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], "nginx:1.25");
        assert_eq!(container["env"], json!([{"name": "MODE", "value": "prod"}]));
        let service = find(&objects, "Service");
        assert_eq!(
            service["spec"]["selector"],
            json!({"app": "web", "team": "core"})
        );
        let cm = find(&objects, "ConfigMap");
        assert_eq!(cm["metadata"]["name"], "prod-extra-v2");
    }

    #[test]
    fn kustomize_leaves_selectors_alone_for_labels_without_selector() {
        let dir = tempfile::tempdir().unwrap();
        write_base(dir.path());
        let overlay = dir.path().join("overlay");
        for include_templates in [false, true] {
            let mut k = json!({"resources": ["../base"]});
            apply_kustomize(
                &mut k,
                &settings(
                    json!({"commonLabels": {"team": "core"}, "labelWithoutSelector": true,
                    "labelIncludeTemplates": include_templates}),
                ),
            )
            .unwrap();
            let Some(objects) = render(&overlay, &k) else {
                return;
            };
            let deploy = find(&objects, "Deployment");
            assert_eq!(deploy["metadata"]["labels"]["team"], "core");
            assert_eq!(
                deploy["spec"]["selector"]["matchLabels"],
                json!({"app": "web"})
            );
            let template = &deploy["spec"]["template"]["metadata"]["labels"];
            assert_eq!(
                template.get("team").is_some(),
                include_templates,
                "{template}"
            );
            let service = find(&objects, "Service");
            assert_eq!(service["spec"]["selector"], json!({"app": "web"}));
        }
    }
}
