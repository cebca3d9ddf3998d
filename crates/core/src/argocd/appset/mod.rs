//! Expands an Argo CD ApplicationSet into the Applications it generates, for the generators that
//! can be expanded from this repository alone (list, git directories, git files, and matrix and
//! merge over them). Generators that need an API, a cluster or a plugin are skipped with a note.

mod generators;
mod glob;
mod template;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

pub use self::template::GO_TEMPLATE_FUNCTIONS;
use self::template::{Mode, Params, render_str, render_value};

/// What the git generators may read: the repository's tree at the revision being rendered.
pub trait RepoFiles {
    /// Every directory of the tree, repo-relative, without the root.
    fn directories(&self) -> Vec<String>;
    /// Every file of the tree, repo-relative.
    fn files(&self) -> Vec<String>;
    fn read(&self, path: &str) -> Option<Vec<u8>>;
}

/// What one ApplicationSet generates from this repository.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expanded {
    pub name: String,
    /// Application manifests, templated (kind Application, metadata.name set), in generation order.
    pub applications: Vec<Value>,
    /// Generators that could not be expanded from the repository alone, each with why
    /// (e.g. "pullRequest generator: needs the Git provider's API; skipped"). A skipped
    /// generator contributes no parameters; a matrix/merge with a skipped child is skipped whole.
    pub skipped: Vec<String>,
}

/// Expands an ApplicationSet manifest. `this_repo` is this repository's URL; a git generator
/// whose repoURL is another repository is skipped with a note (see
/// [`crate::argocd::repo_url::same_repo`]). `repo` is this repository's tree at the revision
/// being rendered. An error names the ApplicationSet and the cause (bad template, bad generator).
pub fn expand(appset: &Value, this_repo: &str, repo: &dyn RepoFiles) -> Result<Expanded, String> {
    let name = appset
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let shown = if name.is_empty() { "(unnamed)" } else { &name };
    expand_named(appset, &name, this_repo, repo).map_err(|e| format!("ApplicationSet {shown}: {e}"))
}

/// What the generators share while one ApplicationSet expands.
pub(crate) struct Ctx<'a> {
    pub mode: Mode,
    pub this_repo: &'a str,
    pub repo: &'a dyn RepoFiles,
    /// `spec.applyNestedSelectors`.
    pub nested_selectors: bool,
    pub skipped: Vec<String>,
}

fn expand_named(
    appset: &Value,
    name: &str,
    this_repo: &str,
    repo: &dyn RepoFiles,
) -> Result<Expanded, String> {
    let spec = appset
        .get("spec")
        .and_then(Value::as_object)
        .ok_or("no spec")?;
    let go = spec
        .get("goTemplate")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    // Argo CD docs, "Go Template" (GoTemplate.md): goTemplateOptions are text/template options;
    // only `missingkey=error` changes what renders (`missingkey=default`/`invalid` are Go's
    // default, `<no value>`).
    let missing_key_error = go
        && spec
            .get("goTemplateOptions")
            .and_then(Value::as_array)
            .is_some_and(|opts| opts.iter().any(|o| o.as_str() == Some("missingkey=error")));
    let mut ctx = Ctx {
        mode: Mode {
            go,
            missing_key_error,
        },
        this_repo,
        repo,
        nested_selectors: spec
            .get("applyNestedSelectors")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        skipped: Vec::new(),
    };
    let base_template = spec.get("template").cloned().unwrap_or(Value::Null);
    let patch = match spec.get("templatePatch") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if go => Some(p.as_str()),
        // Argo CD docs, "Templates" (Template.md, "Template Patch"): templatePatch is a Go
        // template; it is not available with fasttemplate.
        Some(Value::String(_)) => return Err("templatePatch needs goTemplate: true".into()),
        Some(_) => return Err("templatePatch is not a string".into()),
    };
    let gens = match spec.get("generators") {
        Some(Value::Array(g)) => g,
        None | Some(Value::Null) => return Err("no generators".into()),
        Some(_) => return Err("generators is not a list".into()),
    };

    let mut applications = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (i, gen_value) in gens.iter().enumerate() {
        for (kind, body, params) in generators::generate_top(&mut ctx, gen_value, i)? {
            // Argo CD docs, "Templates" (Template.md, "Generator templates"): a generator's own
            // template overrides the ApplicationSet's, field by field; unset fields come from
            // spec.template.
            let tmpl = match body.get("template") {
                Some(own) if !own.is_null() => fill(own.clone(), &base_template),
                _ => base_template.clone(),
            };
            for p in &params {
                let app = render_app(appset, &tmpl, patch, p, ctx.mode)
                    .map_err(|e| format!("generator {} ({kind}): {e}", i + 1))?;
                let app_name = app
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                if app_name.is_empty() {
                    return Err(format!(
                        "generator {} ({kind}): an application has no metadata.name",
                        i + 1
                    ));
                }
                // Argo CD refuses an ApplicationSet whose applications share a name rather than
                // pick one (ApplicationSet controller's duplicate-name check).
                if !names.insert(app_name.clone()) {
                    return Err(format!(
                        "contains applications with duplicate name: {app_name}"
                    ));
                }
                applications.push(app);
            }
        }
    }
    Ok(Expanded {
        name: name.to_string(),
        applications,
        skipped: ctx.skipped,
    })
}

fn render_app(
    appset: &Value,
    tmpl: &Value,
    patch: Option<&str>,
    params: &Params,
    mode: Mode,
) -> Result<Value, String> {
    let rendered = render_value(tmpl, params, mode)?;
    let mut app = Map::new();
    app.insert("apiVersion".into(), "argoproj.io/v1alpha1".into());
    app.insert("kind".into(), "Application".into());
    let mut metadata = rendered
        .get("metadata")
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    // Applications are created in the ApplicationSet's namespace unless the template says
    // otherwise (Argo CD docs, "Applications in any namespace", appset-any-namespace.md).
    if let (Some(meta), Some(ns)) = (
        metadata.as_object_mut(),
        appset
            .pointer("/metadata/namespace")
            .and_then(Value::as_str),
    ) && meta
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        meta.insert("namespace".into(), ns.into());
    }
    app.insert("metadata".into(), metadata);
    app.insert(
        "spec".into(),
        rendered
            .get("spec")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new())),
    );
    let mut app = Value::Object(app);
    if let Some(patch) = patch {
        // Argo CD docs, "Templates" (Template.md, "Template Patch"): the patch is rendered with
        // the parameters, read as YAML, and merged over the templated Application.
        let text = render_str(patch, params, mode)?;
        let value: Value = serde_saphyr::from_str(&text).map_err(|e| {
            format!(
                "templatePatch is not YAML after templating: {}",
                crate::manifest::yaml_error_summary(&e)
            )
        })?;
        if !value.is_null() {
            if !value.is_object() {
                return Err("templatePatch is not a mapping after templating".into());
            }
            // The Application type declares no merge keys, so a strategic merge patch behaves
            // as a JSON merge patch on it.
            super::source::merge_patch(&mut app, value);
        }
    }
    Ok(app)
}

/// Whether Go would call this value zero (what mergo fills in).
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(_) => false,
    }
}

/// `dst` with its zero fields filled from `src`, recursively (mergo.Merge without override).
pub(crate) fn fill(dst: Value, src: &Value) -> Value {
    match (dst, src) {
        (Value::Object(mut d), Value::Object(s)) => {
            for (k, sv) in s {
                match d.get_mut(k) {
                    Some(dv) if !is_zero(dv) => {
                        if dv.is_object() && sv.is_object() {
                            *dv = fill(dv.take(), sv);
                        }
                    }
                    _ => {
                        d.insert(k.clone(), sv.clone());
                    }
                }
            }
            Value::Object(d)
        }
        (d, s) if is_zero(&d) => s.clone(),
        (d, _) => d,
    }
}

/// `dst` overridden by the non-zero fields of `src`, recursively (mergo.Merge WithOverride).
pub(crate) fn override_with(dst: Value, src: &Value) -> Value {
    match (dst, src) {
        (Value::Object(mut d), Value::Object(s)) => {
            for (k, sv) in s {
                match d.get_mut(k) {
                    Some(dv) if dv.is_object() && sv.is_object() => {
                        *dv = override_with(dv.take(), sv);
                    }
                    Some(_) if is_zero(sv) => {}
                    _ => {
                        d.insert(k.clone(), sv.clone());
                    }
                }
            }
            Value::Object(d)
        }
        (d, s) if is_zero(s) => d,
        (_, s) => s.clone(),
    }
}
