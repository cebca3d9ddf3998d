//! Argo CD's parameter override files. Before it builds an application's directory, Argo CD
//! merges `.argocd-source.yaml` and then `.argocd-source-<app>.yaml` from that directory into the
//! application's source (a JSON merge patch, so a list in the later file replaces the earlier
//! one) and runs `kustomize edit set image` with the merged `kustomize.images`. Argo CD Image
//! Updater writes new tags exactly there, so a diff that ignored these files would not show what
//! Argo CD deploys.

use serde_json::{Map, Value};

use crate::manifest::yaml_error_summary;

/// The generic override file; app-specific ones are `.argocd-source-<app>.yaml`.
pub(crate) const GENERIC: &str = ".argocd-source.yaml";
const APP_PREFIX: &str = ".argocd-source-";

/// What the override files of one directory ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Overrides {
    /// Repo-relative paths of the files merged, in Argo CD's order.
    pub(crate) applied: Vec<String>,
    /// Arguments for `kustomize edit set image`, after merging.
    pub(crate) images: Vec<String>,
    /// What a reader should know: files or fields that were not applied, and why.
    pub(crate) notes: Vec<String>,
}

/// An override file Argo CD would refuse too; the overlay is reported as failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub(crate) struct OverrideError {
    pub(crate) file: String,
    pub(crate) message: String,
}

/// Whether a file name is one of Argo CD's override files.
pub(crate) fn is_override_file(name: &str) -> bool {
    name == GENERIC || (name.starts_with(APP_PREFIX) && name.ends_with(".yaml"))
}

/// The override files of overlay `dir` among `paths` (repo-relative): the generic one first,
/// then the app-specific one. Several app-specific files mean several Argo CD applications
/// render this directory differently; which one is meant cannot be known here, so only the
/// generic file is used and a note says so.
pub(crate) fn files_of<'a>(
    dir: &str,
    paths: impl IntoIterator<Item = &'a str>,
) -> (Vec<String>, Vec<String>) {
    let prefix = if dir == "." {
        String::new()
    } else {
        format!("{dir}/")
    };
    let mut generic = None;
    let mut apps = Vec::new();
    for path in paths {
        let Some(name) = path.strip_prefix(&prefix) else {
            continue;
        };
        if name.contains('/') || !is_override_file(name) {
            continue;
        }
        if name == GENERIC {
            generic = Some(path.to_string());
        } else {
            apps.push(path.to_string());
        }
    }
    let mut notes = Vec::new();
    let mut files: Vec<String> = generic.into_iter().collect();
    match apps.len() {
        0 => {}
        1 => files.append(&mut apps),
        _ => notes.push(format!(
            "not applied: {} — several Argo CD applications use this directory, each with its \
             own file, so there is no single rendering",
            apps.join(", ")
        )),
    }
    (files, notes)
}

/// Merges the files' contents (`(path, bytes)` in Argo CD's order) into the overrides to apply.
pub(crate) fn merge(files: &[(String, Vec<u8>)]) -> Result<Overrides, OverrideError> {
    let mut merged = Value::Object(Map::new());
    let mut applied = Vec::new();
    for (path, bytes) in files {
        let invalid = |message: String| OverrideError {
            file: path.clone(),
            message,
        };
        let text =
            std::str::from_utf8(bytes).map_err(|_| invalid("is not UTF-8 text".to_string()))?;
        let patch: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_saphyr::from_str(text)
                .map_err(|e| invalid(format!("is not valid YAML: {}", yaml_error_summary(&e))))?
        };
        match patch {
            Value::Null => {}
            Value::Object(_) => merge_patch(&mut merged, patch),
            _ => {
                return Err(invalid(
                    "must be a mapping (e.g. `kustomize: {images: [...]}`)".into(),
                ));
            }
        }
        applied.push(path.clone());
    }

    let mut overrides = Overrides {
        applied,
        ..Overrides::default()
    };
    let Value::Object(mut top) = merged else {
        unreachable!("a merge patch of mappings stays a mapping")
    };
    let last = files.last().map(|(p, _)| p.clone()).unwrap_or_default();
    if let Some(kustomize) = top.remove("kustomize") {
        let mut kustomize = match kustomize {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            _ => {
                return Err(OverrideError {
                    file: last,
                    message: "`kustomize` must be a mapping".into(),
                });
            }
        };
        match kustomize.remove("images") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for item in items {
                    match item {
                        Value::String(image) => {
                            parse_image_arg(&image).map_err(|message| OverrideError {
                                file: last.clone(),
                                message,
                            })?;
                            overrides.images.push(image);
                        }
                        other => {
                            return Err(OverrideError {
                                file: last.clone(),
                                message: format!(
                                    "`kustomize.images` entries must be strings like \
                                     `name=registry/image:tag`, found {other}"
                                ),
                            });
                        }
                    }
                }
            }
            Some(_) => {
                return Err(OverrideError {
                    file: last,
                    message: "`kustomize.images` must be a list".into(),
                });
            }
        }
        let ignored: Vec<String> = kustomize.keys().map(|k| format!("kustomize.{k}")).collect();
        if !ignored.is_empty() {
            overrides.notes.push(format!(
                "not applied by gitops-promote: {} (only kustomize.images is)",
                ignored.join(", ")
            ));
        }
    }
    let other: Vec<&String> = top.keys().collect();
    if !other.is_empty() {
        overrides.notes.push(format!(
            "ignored: {} (not kustomize settings)",
            other
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(overrides)
}

/// RFC 7386: objects merge key by key, `null` deletes, anything else replaces. Argo CD merges
/// override files, and ApplicationSet template patches, this way.
pub(crate) fn merge_patch(target: &mut Value, patch: Value) {
    let Value::Object(patch) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let map = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if value.is_null() {
            map.remove(&key);
        } else {
            merge_patch(map.entry(key).or_insert(Value::Null), value);
        }
    }
}

/// One `images` entry of a kustomization, as `kustomize edit set image` writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ImageEntry {
    name: String,
    new_name: String,
    new_tag: String,
    digest: String,
}

const PRESERVE: &str = "*";

/// Parses `[<name>=]<image>[:<tag>][@<digest>]` like kustomize's `edit set image`: without
/// `name=`, the entry matches the image's own name and sets only its tag or digest.
fn parse_image_arg(arg: &str) -> Result<ImageEntry, String> {
    let (key, value) = match arg.split_once('=') {
        Some((key, value)) => (Some(key), value),
        None => (None, arg),
    };
    let (name, tag, digest) = split_image(value);
    if key.is_none() && tag.is_empty() && digest.is_empty() {
        return Err(format!(
            "image override '{arg}' names no tag or digest; use `<image>:<tag>`, \
             `<image>@<digest>` or `<name>=<image>[:<tag>][@<digest>]`"
        ));
    }
    if key.is_some_and(str::is_empty) || name.is_empty() {
        return Err(format!("image override '{arg}' has an empty image name"));
    }
    Ok(match key {
        Some(key) => ImageEntry {
            name: key.to_string(),
            new_name: name.to_string(),
            new_tag: tag.to_string(),
            digest: digest.to_string(),
        },
        None => ImageEntry {
            name: name.to_string(),
            new_tag: tag.to_string(),
            digest: digest.to_string(),
            ..ImageEntry::default()
        },
    })
}

/// Splits an image reference into name, tag and digest. A `:` before the first `/` is a
/// registry port, not a tag.
pub(crate) fn split_image(reference: &str) -> (&str, &str, &str) {
    let search_from = reference.find('/').unwrap_or(0);
    let rest = &reference[search_from..];
    let at = rest.find('@').map(|i| i + search_from);
    let colon = rest.find(':').map(|i| i + search_from);
    match (colon, at) {
        (None, None) => (reference, "", ""),
        (None, Some(at)) => (&reference[..at], "", &reference[at + 1..]),
        (Some(colon), Some(at)) if at < colon => (&reference[..at], "", &reference[at + 1..]),
        (Some(colon), Some(at)) => (
            &reference[..colon],
            &reference[colon + 1..at],
            &reference[at + 1..],
        ),
        (Some(colon), None) => (&reference[..colon], &reference[colon + 1..], ""),
    }
}

/// Applies `images` (already merged) to a parsed kustomization as one `kustomize edit set
/// image` call would: an argument replaces the entry of the same name (`*` keeps that field),
/// other entries stay, and the list ends sorted by name.
pub(crate) fn set_images(kustomization: &mut Value, images: &[String]) -> Result<(), String> {
    let Value::Object(doc) = kustomization else {
        return Err("the kustomization is not a mapping".into());
    };
    let mut by_name: std::collections::BTreeMap<String, ImageEntry> = Default::default();
    for arg in images {
        let entry = parse_image_arg(arg)?;
        by_name.insert(entry.name.clone(), entry);
    }
    let existing = match doc.get("images") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err("its `images` is not a list".into()),
    };
    let text = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    // Entries kept as they are retain fields kustomize knows and we do not (e.g. tagSuffix).
    let mut untouched: std::collections::BTreeMap<String, Value> = Default::default();
    for item in existing {
        let name = text(&item, "name");
        if let Some(arg) = by_name.get_mut(&name) {
            if arg.new_name == PRESERVE {
                arg.new_name = text(&item, "newName");
            }
            if arg.new_tag == PRESERVE {
                arg.new_tag = text(&item, "newTag");
            }
            if arg.digest == PRESERVE {
                arg.digest = text(&item, "digest");
            }
        } else {
            untouched.insert(name, item);
        }
    }
    let mut list: std::collections::BTreeMap<String, Value> = untouched;
    for (name, entry) in by_name {
        let mut map = Map::new();
        map.insert("name".into(), Value::String(name.clone()));
        for (key, value) in [
            ("newName", entry.new_name),
            ("newTag", entry.new_tag),
            ("digest", entry.digest),
        ] {
            if !value.is_empty() && value != PRESERVE {
                map.insert(key.into(), Value::String(value));
            }
        }
        list.insert(name, Value::Object(map));
    }
    doc.insert("images".into(), Value::Array(list.into_values().collect()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn file(path: &str, text: &str) -> (String, Vec<u8>) {
        (path.to_string(), text.as_bytes().to_vec())
    }

    #[test]
    fn finds_generic_then_single_app_file_and_ignores_nested_ones() {
        let paths = [
            "apps/web/.argocd-source-web-prod.yaml",
            "apps/web/.argocd-source.yaml",
            "apps/web/kustomization.yaml",
            "apps/web/sub/.argocd-source.yaml",
            "apps/webby/.argocd-source.yaml",
        ];
        let (files, notes) = files_of("apps/web", paths);
        assert_eq!(
            files,
            [
                "apps/web/.argocd-source.yaml",
                "apps/web/.argocd-source-web-prod.yaml"
            ]
        );
        assert!(notes.is_empty());
        let (files, _) = files_of(".", [".argocd-source.yaml", "a/.argocd-source.yaml"]);
        assert_eq!(files, [".argocd-source.yaml"]);
    }

    #[test]
    fn several_app_files_are_not_guessed_between() {
        let (files, notes) = files_of(
            "web",
            [
                "web/.argocd-source-a.yaml",
                "web/.argocd-source-b.yaml",
                "web/.argocd-source.yaml",
            ],
        );
        assert_eq!(files, ["web/.argocd-source.yaml"]);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("web/.argocd-source-a.yaml, web/.argocd-source-b.yaml"));
    }

    #[test]
    fn the_app_file_replaces_the_generic_image_list_like_a_merge_patch() {
        let merged = merge(&[
            file(
                "o/.argocd-source.yaml",
                "kustomize:\n  images:\n  - nginx:1.25\n  - api=ghcr.io/acme/api:1.0\n",
            ),
            file(
                "o/.argocd-source-o.yaml",
                "kustomize:\n  images:\n  - api=ghcr.io/acme/api:2.0\n",
            ),
        ])
        .unwrap();
        assert_eq!(merged.images, ["api=ghcr.io/acme/api:2.0"]);
        assert_eq!(
            merged.applied,
            ["o/.argocd-source.yaml", "o/.argocd-source-o.yaml"]
        );
        assert!(merged.notes.is_empty());
    }

    #[test]
    fn other_settings_are_named_as_not_applied() {
        let merged = merge(&[file(
            "o/.argocd-source.yaml",
            "kustomize:\n  namePrefix: x-\n  images: [a:1]\nhelm:\n  parameters: []\n",
        )])
        .unwrap();
        assert_eq!(merged.images, ["a:1"]);
        assert_eq!(
            merged.notes,
            [
                "not applied by gitops-promote: kustomize.namePrefix (only kustomize.images is)",
                "ignored: helm (not kustomize settings)"
            ]
        );
    }

    #[test]
    fn broken_files_name_the_file_and_the_cause() {
        let e = merge(&[file("o/.argocd-source.yaml", "kustomize: [\n")]).unwrap_err();
        assert_eq!(e.file, "o/.argocd-source.yaml");
        assert!(e.message.starts_with("is not valid YAML"), "{e}");
        let e = merge(&[file(
            "o/.argocd-source.yaml",
            "kustomize:\n  images: [nginx]\n",
        )])
        .unwrap_err();
        assert!(
            e.to_string().contains("'nginx' names no tag or digest"),
            "{e}"
        );
        let e = merge(&[file("o/.argocd-source.yaml", "- a\n")]).unwrap_err();
        assert!(e.message.contains("must be a mapping"), "{e}");
        let empty = merge(&[file("o/.argocd-source.yaml", "\n")]).unwrap();
        assert!(empty.images.is_empty());
    }

    #[test]
    fn splits_references_like_kustomize() {
        assert_eq!(split_image("nginx"), ("nginx", "", ""));
        assert_eq!(split_image("nginx:1.25"), ("nginx", "1.25", ""));
        assert_eq!(
            split_image("localhost:5000/app"),
            ("localhost:5000/app", "", "")
        );
        assert_eq!(
            split_image("localhost:5000/app:v1@sha256:ab"),
            ("localhost:5000/app", "v1", "sha256:ab")
        );
        assert_eq!(split_image("app@sha256:ab"), ("app", "", "sha256:ab"));
    }

    #[test]
    fn set_images_replaces_matching_entries_and_keeps_the_rest() {
        let mut k = json!({
            "resources": ["../base"],
            "images": [
                {"name": "api", "newName": "ghcr.io/acme/api", "newTag": "1.0"},
                {"name": "web", "newTag": "3", "tagSuffix": "x"},
                {"name": "db", "newName": "postgres", "newTag": "15"}
            ]
        });
        set_images(
            &mut k,
            &[
                "api=ghcr.io/acme/api:2.0@sha256:ff".into(),
                "db=*:16".into(),
                "redis:7".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            k["images"],
            json!([
                {"name": "api", "newName": "ghcr.io/acme/api", "newTag": "2.0", "digest": "sha256:ff"},
                {"name": "db", "newName": "postgres", "newTag": "16"},
                {"name": "redis", "newTag": "7"},
                {"name": "web", "newTag": "3", "tagSuffix": "x"}
            ])
        );
        // Without `name=`, kustomize drops the entry's newName: the argument replaces it whole.
        set_images(&mut k, &["api:3.0".into()]).unwrap();
        assert_eq!(k["images"][0], json!({"name": "api", "newTag": "3.0"}));
    }

    #[test]
    fn set_images_refuses_what_kustomize_refuses() {
        let mut k = json!({"images": "nope"});
        assert!(set_images(&mut k, &["a:1".into()]).is_err());
        let mut k = json!({});
        assert!(set_images(&mut k, &["=x:1".into()]).is_err());
    }
}
