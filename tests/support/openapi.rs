//! GitHub's published REST description (`@octokit/openapi`, pinned), fetched on demand with npm and
//! reduced to what the fake needs to judge whether a request, or its own response, fits GitHub's API.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Pinned so that a new upstream description can never turn a green suite red on its own.
pub const PACKAGE: &str = "@octokit/openapi";
pub const VERSION: &str = "23.0.2";
const FILE_IN_PACKAGE: &str = "package/generated/api.github.com.json";

/// Where the extracted description is kept between test runs (one `npm pack` per checkout).
pub fn cached_description_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/openapi/api.github.com.json")
}

/// The reduced table, cached beside the description: parsing the 13 MB original takes seconds in
/// a debug build, and every test binary that starts the fake would pay that.
fn compact_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "target/openapi/compact-{VERSION}-{COMPACT_FORMAT}.json"
    ))
}

/// Bumped whenever [`Compact`] changes shape, so a stale cache is rebuilt instead of misread.
const COMPACT_FORMAT: u32 = 1;

/// The parsed description, loaded (and fetched, if missing) once per test process.
pub fn rest_description() -> &'static RestDescription {
    static DESCRIPTION: OnceLock<RestDescription> = OnceLock::new();
    DESCRIPTION.get_or_init(|| {
        if let Some(description) = std::fs::read(compact_path())
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Compact>(&bytes).ok())
            .filter(|compact| compact.version == VERSION)
            .map(RestDescription::from_compact)
        {
            return description;
        }
        let path = cached_description_path();
        if !path.exists() {
            let started = Instant::now();
            fetch_description(&path).unwrap_or_else(|err| {
                panic!("could not fetch {PACKAGE}@{VERSION} with npm: {err}")
            });
            eprintln!(
                "fetched {PACKAGE}@{VERSION} into {} in {:.1?}",
                path.display(),
                started.elapsed()
            );
        }
        let text = std::fs::read(&path)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
        let description = RestDescription::parse(&text)
            .unwrap_or_else(|err| panic!("cannot use {}: {err}", path.display()));
        let compact = description.to_compact();
        // Best effort: without the cache the next process just parses the original again.
        if let Ok(json) = serde_json::to_vec(&compact) {
            let _ = write_atomically(&compact_path(), &json);
        }
        // The same reduced table either way, so a cold run checks exactly what a warm one does.
        RestDescription::from_compact(compact)
    })
}

fn write_atomically(destination: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = destination.parent().expect("the cache path has a parent");
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut file, bytes)?;
    // Temp files are private by default; the cache is as public as the rest of target/.
    file.as_file()
        .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    file.persist(destination).map(|_| ()).map_err(|e| e.error)
}

/// `npm pack` then `tar`, into a private temp dir beside the destination and renamed into place,
/// so that test processes racing to fetch never see each other's half-written file.
fn fetch_description(destination: &Path) -> Result<(), String> {
    let dir = destination.parent().expect("the cache path has a parent");
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(dir)
        .map_err(|e| format!("temp dir in {}: {e}", dir.display()))?;

    let spec = format!("{PACKAGE}@{VERSION}");
    let output = Command::new("npm")
        .args(["pack", &spec, "--silent", "--pack-destination"])
        .arg(scratch.path())
        .current_dir(scratch.path())
        .output()
        .map_err(|e| format!("cannot run npm: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "npm pack {spec} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let tarball = std::fs::read_dir(scratch.path())
        .map_err(|e| e.to_string())?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|ext| ext == "tgz"))
        .ok_or_else(|| "npm pack left no .tgz".to_owned())?;

    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(scratch.path())
        .arg(FILE_IN_PACKAGE)
        .status()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    if !status.success() {
        return Err(format!("tar could not extract {FILE_IN_PACKAGE}"));
    }
    std::fs::rename(scratch.path().join(FILE_IN_PACKAGE), destination)
        .map_err(|e| format!("rename into {}: {e}", destination.display()))
}

// ---------------------------------------------------------------------------------------------
// The compact table
// ---------------------------------------------------------------------------------------------

/// Path templates with their operations, plus the shared schemas that request bodies and
/// responses refer to (kept as JSON because they are only walked, never transformed).
pub struct RestDescription {
    paths: Vec<PathTemplate>,
    schemas: HashMap<String, Value>,
}

struct PathTemplate {
    template: String,
    segments: Vec<Segment>,
    operations: BTreeMap<String, Operation>,
}

#[derive(PartialEq)]
enum Segment {
    Literal(String),
    Parameter,
}

/// One method on one path, as much of it as the checks use.
#[derive(Serialize, Deserialize)]
pub struct Operation {
    pub operation_id: String,
    pub docs_url: Option<String>,
    query: BTreeMap<String, Value>,
    body: Option<RequestBody>,
    responses: BTreeMap<String, Option<Value>>,
}

#[derive(Serialize, Deserialize)]
struct RequestBody {
    required: bool,
    /// `None` when the operation takes something other than JSON (release assets, raw markdown).
    json_schema: Option<Value>,
}

/// What is cached: the operations by template, and only the schemas they reach, without the
/// prose (descriptions, examples) that the checks never read.
#[derive(Serialize, Deserialize)]
struct Compact {
    version: String,
    paths: Vec<(String, BTreeMap<String, Operation>)>,
    schemas: HashMap<String, Value>,
}

#[derive(Deserialize)]
struct RawDescription {
    info: RawInfo,
    paths: BTreeMap<String, BTreeMap<String, Value>>,
    components: RawComponents,
}

#[derive(Deserialize)]
struct RawInfo {
    version: String,
}

#[derive(Deserialize)]
struct RawComponents {
    #[serde(default)]
    parameters: HashMap<String, Value>,
    #[serde(default)]
    schemas: HashMap<String, Value>,
    #[serde(default)]
    responses: HashMap<String, Value>,
}

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

impl RestDescription {
    pub fn parse(json: &[u8]) -> Result<Self, String> {
        let raw: RawDescription = serde_json::from_slice(json).map_err(|e| e.to_string())?;
        if raw.info.version != VERSION {
            return Err(format!(
                "it is version {}, expected {VERSION}",
                raw.info.version
            ));
        }
        let RawComponents {
            parameters,
            schemas,
            responses,
        } = raw.components;
        let resolve_parameter = |p: &Value| -> Option<Value> {
            match p.get("$ref").and_then(Value::as_str) {
                Some(r) => parameters.get(r.rsplit('/').next()?).cloned(),
                None => Some(p.clone()),
            }
        };

        let mut paths = Vec::new();
        for (template, items) in raw.paths {
            let shared_parameters: Vec<Value> = items
                .get("parameters")
                .and_then(Value::as_array)
                .map(|ps| ps.iter().filter_map(&resolve_parameter).collect())
                .unwrap_or_default();
            let mut operations = BTreeMap::new();
            for (method, op) in &items {
                if !HTTP_METHODS.contains(&method.as_str()) {
                    continue;
                }
                let own_parameters = op
                    .get("parameters")
                    .and_then(Value::as_array)
                    .map(|ps| ps.iter().filter_map(&resolve_parameter).collect::<Vec<_>>())
                    .unwrap_or_default();
                let query = shared_parameters
                    .iter()
                    .chain(&own_parameters)
                    .filter(|p| p.get("in").and_then(Value::as_str) == Some("query"))
                    .filter_map(|p| {
                        let name = p.get("name")?.as_str()?.to_owned();
                        Some((name, p.get("schema").cloned().unwrap_or(Value::Null)))
                    })
                    .collect();
                let body = op.get("requestBody").map(|rb| RequestBody {
                    required: rb.get("required").and_then(Value::as_bool).unwrap_or(false),
                    json_schema: rb.pointer("/content/application~1json/schema").cloned(),
                });
                let responses = op
                    .get("responses")
                    .and_then(Value::as_object)
                    .map(|rs| {
                        rs.iter()
                            .map(|(status, response)| {
                                let response = match response.get("$ref").and_then(Value::as_str) {
                                    Some(r) => r
                                        .rsplit('/')
                                        .next()
                                        .and_then(|name| responses.get(name))
                                        .unwrap_or(response),
                                    None => response,
                                };
                                let schema = response
                                    .pointer("/content/application~1json/schema")
                                    .cloned();
                                (status.clone(), schema)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                operations.insert(
                    method.to_ascii_uppercase(),
                    Operation {
                        operation_id: op
                            .get("operationId")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        docs_url: op
                            .pointer("/externalDocs/url")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        query,
                        body,
                        responses,
                    },
                );
            }
            let segments = segments(&template);
            paths.push(PathTemplate {
                template,
                segments,
                operations,
            });
        }
        Ok(RestDescription { paths, schemas })
    }

    fn from_compact(compact: Compact) -> RestDescription {
        let paths = compact
            .paths
            .into_iter()
            .map(|(template, operations)| PathTemplate {
                segments: segments(&template),
                template,
                operations,
            })
            .collect();
        RestDescription {
            paths,
            schemas: compact.schemas,
        }
    }

    fn to_compact(&self) -> Compact {
        let mut reachable = BTreeMap::new();
        let mut pending: Vec<&Value> = Vec::new();
        for template in &self.paths {
            for op in template.operations.values() {
                pending.extend(op.query.values());
                pending.extend(op.body.iter().filter_map(|b| b.json_schema.as_ref()));
                pending.extend(op.responses.values().flatten());
            }
        }
        while let Some(value) = pending.pop() {
            let mut names = Vec::new();
            referenced_schemas(value, &mut names);
            for name in names {
                if let Some(schema) = self.schemas.get(name)
                    && reachable
                        .insert(name.to_owned(), without_prose(schema))
                        .is_none()
                {
                    pending.push(schema);
                }
            }
        }
        Compact {
            version: VERSION.to_owned(),
            paths: self
                .paths
                .iter()
                .map(|t| {
                    let operations = t
                        .operations
                        .iter()
                        .map(|(method, op)| {
                            let op = Operation {
                                operation_id: op.operation_id.clone(),
                                docs_url: op.docs_url.clone(),
                                query: op
                                    .query
                                    .iter()
                                    .map(|(k, v)| (k.clone(), without_prose(v)))
                                    .collect(),
                                body: op.body.as_ref().map(|b| RequestBody {
                                    required: b.required,
                                    json_schema: b.json_schema.as_ref().map(without_prose),
                                }),
                                responses: op
                                    .responses
                                    .iter()
                                    .map(|(k, v)| (k.clone(), v.as_ref().map(without_prose)))
                                    .collect(),
                            };
                            (method.clone(), op)
                        })
                        .collect();
                    (t.template.clone(), operations)
                })
                .collect(),
            schemas: reachable.into_iter().collect(),
        }
    }

    /// The template a concrete path (relative to the API root) falls under. When several match,
    /// literal segments win from the left, the way GitHub's router picks
    /// `/issues/comments/{comment_id}` over `/issues/{issue_number}/...`.
    pub fn template_for(&self, path: &str) -> Option<&str> {
        self.find(path).map(|t| t.template.as_str())
    }

    /// Methods the description gives for a template, upper-case and sorted.
    pub fn methods(&self, template: &str) -> Vec<String> {
        self.paths
            .iter()
            .find(|t| t.template == template)
            .map(|t| t.operations.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn operation(&self, method: &str, path: &str) -> Option<&Operation> {
        self.find(path)?
            .operations
            .get(&method.to_ascii_uppercase())
    }

    fn find(&self, path: &str) -> Option<&PathTemplate> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let matches = |t: &&PathTemplate| {
            t.segments.len() == segments.len()
                && t.segments.iter().zip(&segments).all(|(s, actual)| match s {
                    Segment::Literal(l) => l == actual,
                    Segment::Parameter => !actual.is_empty(),
                })
        };
        // A literal is more specific than a parameter at the same position.
        let rank = |t: &PathTemplate| -> Vec<bool> {
            t.segments
                .iter()
                .map(|s| *s == Segment::Parameter)
                .collect()
        };
        self.paths.iter().filter(matches).min_by_key(|t| rank(t))
    }

    /// Everything about a request that GitHub's description does not allow, one sentence each.
    /// `path` is relative to the API root (`/repos/...`), `query` is the raw query string.
    pub fn check_request(&self, method: &str, path: &str, query: &str, body: &[u8]) -> Vec<String> {
        let method = method.to_ascii_uppercase();
        let Some(template) = self.find(path) else {
            return vec!["no path in GitHub's REST description matches it".to_owned()];
        };
        let Some(op) = template.operations.get(&method) else {
            let allowed: Vec<&str> = template.operations.keys().map(String::as_str).collect();
            return vec![format!(
                "GitHub's REST description has no {method} for {} (it has {})",
                template.template,
                allowed.join(", ")
            )];
        };

        let mut problems = Vec::new();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        for (name, value) in pairs {
            let key = name.strip_suffix("[]").unwrap_or(&name);
            match op.query.get(key) {
                None => problems.push(format!(
                    "query parameter `{name}` is not a parameter of {} ({})",
                    op.operation_id,
                    if op.query.is_empty() {
                        "it takes none".to_owned()
                    } else {
                        format!(
                            "it takes {}",
                            op.query.keys().cloned().collect::<Vec<_>>().join(", ")
                        )
                    }
                )),
                Some(schema) => {
                    let integer = schema.get("type").and_then(Value::as_str) == Some("integer");
                    if integer && value.parse::<i64>().is_err() {
                        problems.push(format!(
                            "query parameter `{name}` must be an integer, got `{value}`"
                        ));
                    }
                }
            }
        }

        let empty = body.iter().all(u8::is_ascii_whitespace);
        match (&op.body, empty) {
            (None, true) => {}
            (None, false) => problems.push(format!(
                "{} takes no request body, but one was sent",
                op.operation_id
            )),
            (Some(rb), true) => {
                if rb.required {
                    problems.push(format!("{} requires a JSON body", op.operation_id));
                }
            }
            (Some(rb), false) => {
                if let Some(schema) = &rb.json_schema {
                    match serde_json::from_slice::<Value>(body) {
                        Err(err) => problems.push(format!("the body is not JSON: {err}")),
                        Ok(value) => self.check_value(schema, &value, "body", &mut problems),
                    }
                }
            }
        }
        problems
    }

    /// What in a response the fake produced disagrees with the description: an undocumented
    /// status, a missing required field, a wrong type, a value outside an enum, an unknown field.
    pub fn check_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: Option<&Value>,
    ) -> Vec<String> {
        let Some(op) = self.operation(method, path) else {
            return Vec::new();
        };
        let Some(schema) = op
            .responses
            .get(&status.to_string())
            .or_else(|| op.responses.get("default"))
        else {
            let documented: Vec<&str> = op.responses.keys().map(String::as_str).collect();
            return vec![format!(
                "status {status} is not documented for {} (it documents {})",
                op.operation_id,
                documented.join(", ")
            )];
        };
        let mut problems = Vec::new();
        match (schema, body) {
            (Some(schema), Some(body)) => self.check_value(schema, body, "response", &mut problems),
            (Some(_), None) => problems.push(format!(
                "{} documents a JSON body for status {status}, the fake sent none",
                op.operation_id
            )),
            (None, Some(_)) => problems.push(format!(
                "{} documents no body for status {status}, the fake sent one",
                op.operation_id
            )),
            (None, None) => {}
        }
        problems
    }

    fn resolve<'a>(&'a self, mut schema: &'a Value) -> &'a Value {
        // Chains of references are short; the bound only guards against a cycle.
        for _ in 0..16 {
            match schema.get("$ref").and_then(Value::as_str) {
                Some(r) => match r.rsplit('/').next().and_then(|n| self.schemas.get(n)) {
                    Some(target) => schema = target,
                    None => return schema,
                },
                None => return schema,
            }
        }
        schema
    }

    /// A JSON-Schema subset: `$ref`, `nullable`, `allOf`/`oneOf`/`anyOf`, `type`, `enum`,
    /// `properties`/`required`/`additionalProperties`, `items`. Objects with `properties` are
    /// closed unless `additionalProperties` opens them, so a misspelt field is caught.
    fn check_value(&self, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
        let outer_nullable = schema.get("nullable").and_then(Value::as_bool) == Some(true);
        let schema = self.resolve(schema);
        if value.is_null() {
            let nullable = outer_nullable
                || schema.get("nullable").and_then(Value::as_bool) == Some(true)
                || schema
                    .get("enum")
                    .and_then(Value::as_array)
                    .is_some_and(|e| e.contains(&Value::Null));
            let constrained = schema.get("type").is_some()
                || schema.get("properties").is_some()
                || schema.get("allOf").is_some()
                || schema.get("$ref").is_some();
            let alternative_allows_null = ["oneOf", "anyOf"].iter().any(|k| {
                schema
                    .get(*k)
                    .and_then(Value::as_array)
                    .is_some_and(|alts| {
                        alts.iter().any(|alt| {
                            let mut scratch = Vec::new();
                            self.check_value(alt, value, at, &mut scratch);
                            scratch.is_empty()
                        })
                    })
            });
            if !nullable && constrained && !alternative_allows_null {
                out.push(format!(
                    "{at} is null, which the description does not allow"
                ));
            }
            return;
        }

        for key in ["oneOf", "anyOf"] {
            if let Some(alternatives) = schema.get(key).and_then(Value::as_array) {
                let mut best: Option<Vec<String>> = None;
                for alternative in alternatives {
                    let mut scratch = Vec::new();
                    self.check_value(alternative, value, at, &mut scratch);
                    if scratch.is_empty() {
                        best = None;
                        break;
                    }
                    if best.as_ref().is_none_or(|b| scratch.len() < b.len()) {
                        best = Some(scratch);
                    }
                }
                if let Some(nearest) = best {
                    out.push(format!(
                        "{at} matches none of the {} alternatives (nearest: {})",
                        alternatives.len(),
                        nearest.join("; ")
                    ));
                }
            }
        }

        let shape = self.shape(schema);
        if let Some(types) = &shape.types {
            let actual = json_type(value);
            let fits = types
                .iter()
                .any(|t| t == actual || (t == "number" && actual == "integer"));
            if !fits {
                out.push(format!(
                    "{at} is {actual}, the description says {}",
                    types.join(" or ")
                ));
                return;
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            out.push(format!(
                "{at} is {value}, not one of {}",
                Value::Array(allowed.clone())
            ));
        }

        match value {
            Value::Object(map) if shape.has_properties => {
                for name in &shape.required {
                    if !map.contains_key(name) {
                        out.push(format!("{at} lacks the required field `{name}`"));
                    }
                }
                for (name, field) in map {
                    match shape.properties.get(name) {
                        Some(field_schemas) => {
                            for field_schema in field_schemas {
                                self.check_value(field_schema, field, &format!("{at}.{name}"), out);
                            }
                        }
                        None if !shape.open => out.push(format!(
                            "{at} has the field `{name}`, which the description does not know"
                        )),
                        None => {}
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check_value(item_schema, item, &format!("{at}[{i}]"), out);
                    }
                }
            }
            _ => {}
        }
    }

    /// An object schema with its `allOf` parts merged, which is how GitHub composes them.
    fn shape<'a>(&'a self, schema: &'a Value) -> Shape<'a> {
        let mut shape = Shape::default();
        self.collect_shape(schema, &mut shape, 0);
        shape
    }

    fn collect_shape<'a>(&'a self, schema: &'a Value, shape: &mut Shape<'a>, depth: usize) {
        let schema = self.resolve(schema);
        if depth > 8 {
            return;
        }
        if let Some(t) = schema.get("type") {
            let types: Vec<String> = match t {
                Value::String(s) => vec![s.clone()],
                Value::Array(ts) => ts
                    .iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            };
            shape.types = Some(match shape.types.take() {
                Some(existing) => existing.into_iter().filter(|t| types.contains(t)).collect(),
                None => types,
            });
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            shape.has_properties = true;
            for (name, field) in props {
                shape
                    .properties
                    .entry(name.clone())
                    .or_default()
                    .push(field);
            }
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            shape.has_properties = true;
            shape.required.extend(
                required
                    .iter()
                    .filter_map(|r| r.as_str().map(str::to_owned)),
            );
        }
        match schema.get("additionalProperties") {
            None | Some(Value::Bool(false)) => {}
            Some(_) => shape.open = true,
        }
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            for part in parts {
                self.collect_shape(part, shape, depth + 1);
            }
        }
        // Alternatives describe the object too; their fields are checked by the branch, so
        // here they only keep the merged object from calling those fields unknown.
        for key in ["oneOf", "anyOf"] {
            if schema.get(key).is_some() {
                shape.open = true;
            }
        }
    }
}

/// A template's segments; `{name}` matches any one segment.
fn segments(template: &str) -> Vec<Segment> {
    template
        .trim_start_matches('/')
        .split('/')
        .map(|s| {
            if s.starts_with('{') && s.ends_with('}') {
                Segment::Parameter
            } else {
                Segment::Literal(s.to_owned())
            }
        })
        .collect()
}

/// The names of `#/components/schemas/...` references anywhere inside a value.
fn referenced_schemas<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                out.push(name);
            }
            map.values().for_each(|v| referenced_schemas(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| referenced_schemas(v, out)),
        _ => {}
    }
}

/// A schema without the keywords meant for readers. Property names are kept even when they are
/// called `description` or `title`: only keys of schema objects are dropped.
fn without_prose(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = serde_json::Map::new();
    for (key, value) in map {
        let kept = match key.as_str() {
            "description" | "example" | "examples" | "title" | "externalDocs" => continue,
            k if k.starts_with("x-") => continue,
            "properties" => Value::Object(
                value
                    .as_object()
                    .map(|props| {
                        props
                            .iter()
                            .map(|(name, s)| (name.clone(), without_prose(s)))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            "items" | "additionalProperties" | "not" => without_prose(value),
            "allOf" | "oneOf" | "anyOf" => Value::Array(
                value
                    .as_array()
                    .map(|alts| alts.iter().map(without_prose).collect())
                    .unwrap_or_default(),
            ),
            _ => value.clone(),
        };
        out.insert(key.clone(), kept);
    }
    Value::Object(out)
}

#[derive(Default)]
struct Shape<'a> {
    types: Option<Vec<String>>,
    has_properties: bool,
    properties: BTreeMap<String, Vec<&'a Value>>,
    required: Vec<String>,
    open: bool,
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
