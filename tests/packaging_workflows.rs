//! The workflows that test, release and wrap the action, and the consumer examples, read as data:
//! each parses, the reusable workflow mirrors `action.yml`, each example grants what its events
//! need, the release builds both musl binaries into `dist/`, CI runs `.ci/run`, which builds the
//! x86_64 one first for `tests/packaging_action.rs` to check and run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use regex::Regex;
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const MUSL_TRIPLES: [&str; 2] = ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"];
/// The placeholder owner/name the workflows, examples and README use for this repository.
const ACTION: &str = "gitops-promote/gitops-promote@v1";
const REUSABLE: &str = "gitops-promote/gitops-promote/.github/workflows/gitops-promote.yml@v1";
/// The action's inputs the reusable workflow's jobs set themselves (from `shards`).
const JOB_SET: [&str; 2] = ["shard", "merge-reports"];

fn read(rel: &str) -> String {
    let path = Path::new(ROOT).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn load(rel: &str) -> Value {
    serde_saphyr::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not valid YAML: {e}"))
}

/// Every workflow and example, as paths relative to the crate root.
fn workflow_files() -> Vec<String> {
    let mut files = Vec::new();
    for dir in [".github/workflows", "examples/workflows"] {
        let entries = std::fs::read_dir(Path::new(ROOT).join(dir))
            .unwrap_or_else(|e| panic!("listing {dir}: {e}"));
        for entry in entries {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".yml") || name.ends_with(".yaml") {
                files.push(format!("{dir}/{name}"));
            }
        }
    }
    files.sort();
    files
}

fn map<'a>(v: &'a Value, what: &str) -> &'a serde_json::Map<String, Value> {
    v.as_object()
        .unwrap_or_else(|| panic!("{what} is not a mapping: {v}"))
}

/// A YAML scalar as the string GitHub hands an action: `true`, `3`, `text`; null is empty.
fn scalar(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        other => panic!("not a scalar: {other}"),
    }
}

/// The events a workflow's `on:` names, in any of its three forms.
fn triggers(workflow: &Value) -> BTreeSet<String> {
    match &workflow["on"] {
        Value::String(event) => BTreeSet::from([event.clone()]),
        Value::Array(events) => events.iter().map(scalar).collect(),
        Value::Object(events) => events.keys().cloned().collect(),
        other => panic!("`on:` has an unexpected form: {other}"),
    }
}

fn steps(job: &Value) -> &[Value] {
    job["steps"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn all_steps(workflow: &Value) -> impl Iterator<Item = &Value> {
    map(&workflow["jobs"], "jobs").values().flat_map(steps)
}

fn uses(step: &Value) -> &str {
    step["uses"].as_str().unwrap_or("")
}

fn run(step: &Value) -> &str {
    step["run"].as_str().unwrap_or("")
}

#[test]
fn every_workflow_and_example_parses() {
    let files = workflow_files();
    for expected in [
        ".github/workflows/ci.yml",
        ".github/workflows/gitops-promote.yml",
        ".github/workflows/release.yml",
        "examples/workflows/chatops.yml",
        "examples/workflows/pr-diff.yml",
        "examples/workflows/promote.yml",
        "examples/workflows/reusable.yml",
    ] {
        assert!(files.iter().any(|f| f == expected), "{expected} is missing");
    }
    for file in &files {
        let workflow = load(file);
        assert!(!triggers(&workflow).is_empty(), "{file}: no trigger");
        let jobs = map(&workflow["jobs"], &format!("{file}: jobs"));
        assert!(!jobs.is_empty(), "{file}: no jobs");
        for (name, job) in jobs {
            // A job either runs steps on a runner or calls a reusable workflow.
            let runs_steps = job.get("runs-on").is_some() && !steps(job).is_empty();
            let calls = job["uses"].as_str().is_some();
            assert!(
                runs_steps != calls,
                "{file}: job {name} needs runs-on with steps, or uses, not both"
            );
            for step in steps(job) {
                assert!(
                    (step.get("uses").is_some()) != (step.get("run").is_some()),
                    "{file}: job {name}: a step needs exactly one of uses and run: {step}"
                );
            }
        }
    }
}

/// action.yml's inputs (name → its declaration) and output names.
fn action_inputs_and_outputs() -> (BTreeMap<String, Value>, BTreeSet<String>) {
    let action = load("action.yml");
    let inputs = map(&action["inputs"], "action.yml inputs")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let outputs = map(&action["outputs"], "action.yml outputs")
        .keys()
        .cloned()
        .collect();
    (inputs, outputs)
}

#[test]
fn reusable_workflow_mirrors_the_action() {
    let (action_inputs, action_outputs) = action_inputs_and_outputs();
    let workflow = load(".github/workflows/gitops-promote.yml");
    assert_eq!(
        triggers(&workflow),
        BTreeSet::from(["workflow_call".to_string()]),
        "the reusable workflow is only called"
    );
    let call = &workflow["on"]["workflow_call"];
    // It declares no permissions (a called workflow can only lower its caller's), so its header
    // says what the caller grants for each event.
    let text = read(".github/workflows/gitops-promote.yml");
    assert!(workflow.get("permissions").is_none());
    for grant in [
        "contents: read, pull-requests: write",
        "contents: write, pull-requests: write",
    ] {
        assert!(text.contains(grant), "the header documents {grant:?}");
    }

    // Inputs: action.yml's, minus github-token (the optional secret `token` stands for it) and
    // the two the jobs set (`shard`, `merge-reports`), plus `shards`, which decides the jobs.
    let inputs = map(&call["inputs"], "workflow_call inputs");
    let names: BTreeSet<&str> = inputs.keys().map(String::as_str).collect();
    let mirrored = |name: &&str| *name != "github-token" && !JOB_SET.contains(name);
    let mut expected: BTreeSet<&str> = action_inputs
        .keys()
        .map(String::as_str)
        .filter(mirrored)
        .collect();
    expected.insert("shards");
    assert_eq!(names, expected, "inputs differ from action.yml's");
    let mut from_code: BTreeSet<&str> = gitops_promote::config::INPUT_NAMES
        .iter()
        .copied()
        .filter(mirrored)
        .collect();
    from_code.insert("shards");
    assert_eq!(names, from_code, "inputs differ from config::INPUT_NAMES");

    for (name, spec) in inputs {
        let ty = spec["type"].as_str().unwrap_or("");
        let default = spec.get("default").map(scalar).unwrap_or_default();
        match name.as_str() {
            // Whether to keep a render cache; the jobs pass the action its directory.
            "cache" => assert_eq!((ty, default.as_str()), ("boolean", "true"), "input cache"),
            "shards" => assert_eq!((ty, default.as_str()), ("number", "1"), "input shards"),
            _ => {
                let action_spec = &action_inputs[name];
                assert_eq!(
                    default,
                    scalar(&action_spec["default"]),
                    "input {name}: default differs from action.yml's"
                );
                assert_eq!(
                    spec["required"].as_bool().unwrap_or(false),
                    action_spec["required"].as_bool().unwrap_or(false),
                    "input {name}: required differs from action.yml's"
                );
            }
        }
        match ty {
            "string" => {}
            "boolean" => assert!(
                matches!(default.as_str(), "true" | "false"),
                "input {name}: a boolean whose default is {default:?}"
            ),
            "number" => assert!(
                default.parse::<f64>().is_ok(),
                "input {name}: a number whose default is {default:?} (an empty default would \
                 reach the action as 0; use a string)"
            ),
            other => panic!("input {name}: type {other:?} is not string, boolean or number"),
        }
    }

    let secrets = map(&call["secrets"], "workflow_call secrets");
    assert_eq!(
        secrets.keys().collect::<Vec<_>>(),
        ["token"],
        "the only secret is `token`"
    );
    assert_eq!(secrets["token"]["required"], Value::Bool(false));

    // The jobs: one for every event and unsharded PRs; plan, shards and merge for the others.
    let jobs = map(&workflow["jobs"], "jobs");
    assert_eq!(
        jobs.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from(["gitops-promote", "plan", "shard", "merge"])
    );
    let job = |name: &str| &jobs[name];
    assert_eq!(
        job("gitops-promote")["if"],
        "github.event_name != 'pull_request' || inputs.shards <= 1"
    );
    assert_eq!(
        job("plan")["if"],
        "github.event_name == 'pull_request' && inputs.shards > 1",
        "plan runs exactly when the single job does not"
    );

    // Every job that runs the action checks out at depth 1, then passes every input through,
    // the cache's directory when `cache` is on, and its own part: a shard, or the reports.
    let cache_dir = "${{ inputs.cache && format('{0}/gitops-promote-cache', runner.temp) || '' }}";
    let runs_action = |name: &str| -> &Value {
        let steps = steps(job(name));
        let checkout = steps
            .iter()
            .find(|s| uses(s).starts_with("actions/checkout@"))
            .unwrap_or_else(|| panic!("job {name} checks out"));
        assert_eq!(scalar(&checkout["with"]["fetch-depth"]), "1", "job {name}");
        let action_step = steps
            .iter()
            .find(|s| uses(s) == ACTION)
            .unwrap_or_else(|| panic!("job {name}: no step uses {ACTION}"));
        let with = map(&action_step["with"], "the action step's with");
        assert_eq!(
            with["github-token"], "${{ secrets.token || github.token }}",
            "job {name}: github-token falls back to GITHUB_TOKEN"
        );
        assert_eq!(with["cache"], cache_dir, "job {name}: cache");
        for input in names.iter().filter(|n| !matches!(**n, "cache" | "shards")) {
            assert_eq!(
                with.get(*input).map(scalar).as_deref(),
                Some(format!("${{{{ inputs.{input} }}}}").as_str()),
                "job {name}: input {input} is not passed to the action"
            );
        }
        action_step
    };
    let single = runs_action("gitops-promote");
    // Every input but `shards`, `github-token` and `cache`.
    assert_eq!(map(&single["with"], "with").len(), names.len());
    let sharded = runs_action("shard");
    assert_eq!(
        sharded["with"]["shard"],
        "${{ matrix.shard }}/${{ inputs.shards }}"
    );
    assert_eq!(map(&sharded["with"], "with").len(), names.len() + 1);
    let merging = runs_action("merge");
    assert_eq!(map(&merging["with"], "with").len(), names.len() + 1);
    assert!(steps(job("plan")).iter().all(|s| uses(s) != ACTION));

    // The render cache: one path everywhere (it is part of an actions/cache entry's identity),
    // keyed by branch and run, restored by branch.
    let key = "gitops-promote-render-${{ github.base_ref || github.ref_name }}-${{ github.run_id }}-${{ github.run_attempt }}";
    let prefix = "gitops-promote-render-${{ github.base_ref || github.ref_name }}-";
    assert!(key.starts_with(prefix));
    let cache_steps = |name: &str, action: &str| -> Vec<&Value> {
        steps(job(name))
            .iter()
            .filter(|s| uses(s) == action)
            .inspect(|s| {
                assert_eq!(
                    s["with"]["path"], "${{ runner.temp }}/gitops-promote-cache",
                    "job {name}: {action}'s path"
                )
            })
            .collect()
    };
    let one = |name: &str, action: &str| -> &Value {
        let found = cache_steps(name, action);
        assert_eq!(found.len(), 1, "job {name}: one {action}");
        found[0]
    };
    assert!(
        jobs.keys()
            .all(|name| cache_steps(name, "actions/cache@v4").is_empty()),
        "restore and save are separate steps, so a failed run still saves"
    );
    let restore = one("gitops-promote", "actions/cache/restore@v4");
    assert_eq!(restore["if"], "inputs.cache");
    assert_eq!(restore["with"]["key"], key);
    assert_eq!(restore["with"]["restore-keys"], prefix);
    for name in ["gitops-promote", "merge"] {
        let save = one(name, "actions/cache/save@v4");
        assert_eq!(save["if"], "always() && inputs.cache", "job {name}");
        assert_eq!(save["with"]["key"], key, "job {name}");
    }
    // The plan looks the cache up once; every shard and the merge restore exactly that one.
    let lookup = one("plan", "actions/cache/restore@v4");
    assert_eq!(lookup["with"]["key"], key);
    assert_eq!(lookup["with"]["restore-keys"], prefix);
    assert_eq!(lookup["with"]["lookup-only"], Value::Bool(true));
    let lookup_id = lookup["id"].as_str().expect("the lookup has an id");
    assert_eq!(
        job("plan")["outputs"]["cache-key"],
        format!("${{{{ steps.{lookup_id}.outputs.cache-matched-key }}}}")
    );
    for name in ["shard", "merge"] {
        let restore = one(name, "actions/cache/restore@v4");
        assert_eq!(
            restore["with"]["key"], "${{ needs.plan.outputs.cache-key }}",
            "job {name}"
        );
        assert!(
            restore.get("restore-keys").is_none() && restore["with"].get("restore-keys").is_none()
        );
    }
    assert_eq!(
        one("shard", "actions/cache/restore@v4")["with"]["fail-on-cache-miss"],
        Value::Bool(true),
        "a shard without the planned cache would place the overlays its own way"
    );

    // The matrix: one job per shard from the plan; a failed one does not stop the others, and
    // the merge runs after a failed shard too.
    let shard = job("shard");
    assert_eq!(shard["needs"], "plan");
    assert_eq!(shard["strategy"]["fail-fast"], Value::Bool(false));
    assert_eq!(
        shard["strategy"]["matrix"]["shard"],
        "${{ fromJSON(needs.plan.outputs.shards) }}"
    );
    let list = steps(job("plan"))
        .iter()
        .find(|s| run(s).contains("seq -s, 1 \"$SHARDS\""))
        .expect("the plan lists the shards with seq");
    assert_eq!(
        job("plan")["outputs"]["shards"],
        format!(
            "${{{{ steps.{}.outputs.list }}}}",
            list["id"].as_str().unwrap()
        )
    );
    let merge = job("merge");
    assert_eq!(merge["needs"], serde_json::json!(["plan", "shard"]));
    assert_eq!(
        merge["if"],
        "${{ !cancelled() && needs.plan.result == 'success' }}"
    );
    // What a shard uploads, the merge downloads, and the action reads.
    let upload = steps(shard)
        .iter()
        .find(|s| uses(s) == "actions/upload-artifact@v4")
        .expect("a shard uploads its partial report");
    assert_eq!(
        upload["with"]["name"],
        "gitops-promote-shard-${{ inputs.comment-id }}-${{ matrix.shard }}"
    );
    assert!(upload["if"].as_str().unwrap().starts_with("always() &&"));
    let download = steps(merge)
        .iter()
        .find(|s| uses(s) == "actions/download-artifact@v4")
        .expect("the merge downloads the partial reports");
    assert_eq!(
        download["with"]["pattern"],
        "gitops-promote-shard-${{ inputs.comment-id }}-*"
    );
    assert_eq!(download["with"]["merge-multiple"], Value::Bool(true));
    let downloaded = download["with"]["path"].as_str().unwrap();
    assert_eq!(
        merging["with"]["merge-reports"],
        format!("{downloaded}/partial-*.json")
    );

    // Outputs: the action's (but the shards' `partial-report`), from whichever job ran.
    let outputs = map(&call["outputs"], "workflow_call outputs");
    let output_names: BTreeSet<String> = outputs.keys().cloned().collect();
    let mut expected_outputs = action_outputs.clone();
    assert!(expected_outputs.remove("partial-report"));
    assert_eq!(
        output_names, expected_outputs,
        "outputs differ from action.yml's"
    );
    for name in &expected_outputs {
        assert_eq!(
            outputs[name]["value"],
            format!("${{{{ jobs.gitops-promote.outputs.{name} || jobs.merge.outputs.{name} }}}}"),
            "output {name}"
        );
        for (job_name, action_step) in [("gitops-promote", single), ("merge", merging)] {
            let step_id = action_step["id"]
                .as_str()
                .expect("the action step has an id");
            assert_eq!(
                job(job_name)["outputs"][name],
                format!("${{{{ steps.{step_id}.outputs.{name} }}}}"),
                "job {job_name}: output {name}"
            );
        }
    }
}

/// What a job must be granted to handle `event`, as (scope, level) pairs.
fn needs(event: &str) -> &'static [(&'static str, &'static str)] {
    match event {
        "pull_request" | "pull_request_target" => {
            &[("contents", "read"), ("pull-requests", "write")]
        }
        "push" | "workflow_dispatch" | "issue_comment" => {
            &[("contents", "write"), ("pull-requests", "write")]
        }
        _ => &[],
    }
}

fn grants(permissions: &Value, scope: &str, level: &str) -> bool {
    let granted = match permissions {
        Value::String(all) => all.strip_suffix("-all").unwrap_or("none"),
        Value::Object(scopes) => scopes.get(scope).and_then(Value::as_str).unwrap_or("none"),
        // No `permissions:` at all: the repository's default, which may be read-only.
        _ => "none",
    };
    granted == "write" || (granted == "read" && level == "read")
}

#[test]
fn examples_grant_what_their_events_need() {
    let event_in_if = Regex::new(r"github\.event_name\s*==\s*'([a-z_]+)'").unwrap();
    for name in ["chatops", "pr-diff", "promote", "reusable"] {
        let file = format!("examples/workflows/{name}.yml");
        let text = read(&file);
        assert!(text.starts_with('#'), "{file} starts with a comment header");
        let workflow = load(&file);
        let events = triggers(&workflow);
        for (job_name, job) in map(&workflow["jobs"], "jobs") {
            // The events this job runs for: those its `if:` names, else all of them.
            let condition = job["if"].as_str().unwrap_or("");
            let named: BTreeSet<String> = event_in_if
                .captures_iter(condition)
                .map(|c| c[1].to_string())
                .collect();
            let handled = if named.is_empty() { &events } else { &named };
            // Only jobs that run the action (or the reusable workflow) need its permissions.
            let runs_it = uses(job) == REUSABLE || steps(job).iter().any(|s| uses(s) == ACTION);
            if !runs_it {
                continue;
            }
            let permissions = job.get("permissions").unwrap_or(&workflow["permissions"]);
            for event in handled {
                for (scope, level) in needs(event) {
                    assert!(
                        grants(permissions, scope, level),
                        "{file}: job {job_name} handles {event} but does not grant \
                         {scope}: {level} (it has {permissions})"
                    );
                }
            }
        }
    }

    let chatops = load("examples/workflows/chatops.yml");
    assert_eq!(
        chatops["on"]["issue_comment"]["types"],
        serde_json::json!(["created"]),
        "only new comments run commands"
    );
    let action = all_steps(&chatops)
        .find(|s| uses(s) == ACTION)
        .expect("chatops.yml runs the action");
    assert_eq!(action["with"]["image-update-branches"], "image-updater-*");
    assert!(action["with"]["deploy-branch-target"].is_string());

    let pr_diff = load("examples/workflows/pr-diff.yml");
    assert!(triggers(&pr_diff).contains("pull_request"));
    assert!(all_steps(&pr_diff).any(|s| uses(s) == ACTION));

    let promote = load("examples/workflows/promote.yml");
    assert_eq!(
        promote["on"]["push"]["branches"],
        serde_json::json!(["develop"])
    );
    assert!(
        promote["on"]["workflow_dispatch"]["inputs"]["pr-number"].is_object(),
        "promote.yml can be run by hand with pr-number"
    );
    let action = all_steps(&promote)
        .find(|s| uses(s) == ACTION)
        .expect("promote.yml runs the action");
    assert_eq!(action["with"]["pr-number"], "${{ inputs.pr-number }}");
    assert!(
        read("examples/workflows/promote.yml").contains("actions/create-github-app-token"),
        "promote.yml shows the GitHub App token alternative"
    );

    let reusable = load("examples/workflows/reusable.yml");
    let callers: Vec<&Value> = map(&reusable["jobs"], "jobs")
        .values()
        .filter(|j| uses(j) == REUSABLE)
        .collect();
    assert_eq!(
        callers.len(),
        2,
        "reusable.yml calls the workflow for diff and promotion"
    );
    assert!(
        callers.iter().any(|j| j["secrets"]["token"].is_string()),
        "reusable.yml passes the optional token secret"
    );
    let events = triggers(&reusable);
    for event in ["pull_request", "push", "workflow_dispatch"] {
        assert!(
            events.contains(event),
            "reusable.yml is triggered by {event}"
        );
    }
}

#[test]
fn release_builds_both_musl_binaries_into_dist() {
    let release = load(".github/workflows/release.yml");
    assert_eq!(release["on"]["push"]["tags"], serde_json::json!(["v*"]));
    assert_eq!(release["permissions"]["contents"], "write");

    let jobs = map(&release["jobs"], "jobs");
    let matrix_targets: BTreeSet<String> = jobs
        .values()
        .filter_map(|j| j["strategy"]["matrix"]["target"].as_array())
        .flatten()
        .map(scalar)
        .collect();
    assert_eq!(
        matrix_targets,
        MUSL_TRIPLES.iter().map(|t| t.to_string()).collect(),
        "the release builds exactly the two musl triples"
    );
    let steps: Vec<&Value> = all_steps(&release).collect();
    let script = |needle: &str| {
        steps
            .iter()
            .find(|s| run(s).contains(needle))
            .unwrap_or_else(|| panic!("no release step runs {needle:?}"))
    };
    for action in ["actions/checkout@", "dtolnay/rust-toolchain@"] {
        assert!(
            steps.iter().any(|s| uses(s).starts_with(action)),
            "{action}"
        );
    }
    // x86_64 natively (as .ci/run does in CI), aarch64 with cross; both static and stripped.
    let builders: BTreeMap<String, String> = jobs
        .values()
        .filter_map(|j| j["strategy"]["matrix"]["include"].as_array())
        .flatten()
        .map(|i| (scalar(&i["target"]), scalar(&i["builder"])))
        .collect();
    assert_eq!(
        builders,
        BTreeMap::from([
            (MUSL_TRIPLES[0].to_string(), "cargo".to_string()),
            (MUSL_TRIPLES[1].to_string(), "cross".to_string()),
        ])
    );
    assert!(
        steps
            .iter()
            .any(|s| uses(s).starts_with("taiki-e/install-action@")
                && scalar(&s["with"]["tool"]).starts_with("cross"))
    );
    let build = run(script("build --release"));
    assert!(build.starts_with("\"$BUILDER\" build"), "{build}");
    for flag in [
        "--locked",
        "--target \"$TARGET\"",
        "--config profile.release.strip=true",
    ] {
        assert!(build.contains(flag), "the build runs with {flag}: {build}");
    }
    // SHA256SUMS is written in dist/ over the binaries named as launch.sh looks them up.
    let sums = script("> SHA256SUMS");
    assert_eq!(
        sums["working-directory"], "dist",
        "SHA256SUMS is written in dist/"
    );
    assert!(run(sums).contains("sha256sum gitops-promote-*"));
    let launcher = read("dist/launch.sh");
    assert!(launcher.contains("name=gitops-promote-$target"));
    let commit = run(script("git commit"));
    assert!(
        commit.contains("dist/SHA256SUMS"),
        "SHA256SUMS is committed"
    );
    for triple in MUSL_TRIPLES {
        assert!(launcher.contains(triple), "launch.sh knows {triple}");
        assert!(
            commit.contains(&format!("dist/gitops-promote-{triple}")),
            "the {triple} binary is committed"
        );
    }
    // On top of the tag's commit, never a branch: only tags are pushed, the major one moved.
    assert!(
        steps
            .iter()
            .any(|s| uses(s).starts_with("actions/checkout@")
                && s["with"]["ref"] == "${{ github.sha }}"),
        "the release commit is made on the tag's commit"
    );
    assert!(commit.contains("git tag --force"), "the tag is moved");
    assert!(
        commit.contains("major=${TAG%%.*}"),
        "the major tag is moved"
    );
    let pushes: Vec<&str> = commit
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("git push"))
        .collect();
    assert_eq!(
        pushes,
        ["git push --force origin \"${tags[@]}\""],
        "the release pushes tags only"
    );
    assert!(
        commit.contains("tags=(\"refs/tags/$TAG\")")
            && commit.contains("tags+=(\"refs/tags/$major\")")
    );
    assert!(run(script("gh release create")).contains("dist/SHA256SUMS"));
}

#[test]
fn ci_runs_the_project_script_which_builds_the_static_musl_binary_first() {
    let ci = load(".github/workflows/ci.yml");
    let steps: Vec<&Value> = all_steps(&ci).collect();
    assert!(
        steps.iter().any(|s| run(s).trim() == "bash .ci/run"),
        "ci.yml runs .ci/run"
    );
    // .ci/run is where fmt, clippy, the musl build and the tests live, in that order: the tests
    // check the binary it built and run a PR through dist/launch.sh with it.
    let ci_run = read(".ci/run");
    let commands: Vec<&str> = ci_run
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let position = |prefix: &str| {
        commands
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!(".ci/run has no line starting with {prefix:?}"))
    };
    let order = [
        position("cargo fmt --all -- --check"),
        position("cargo clippy --locked --workspace --all-targets -- -D warnings"),
        position("cargo build "),
        position("export GITOPS_PROMOTE_MUSL_BINARY="),
        position("cargo test --locked"),
    ];
    assert!(
        order.is_sorted(),
        ".ci/run's steps are out of order: {order:?}"
    );

    let triple = MUSL_TRIPLES[0];
    assert!(commands.contains(&format!("musl={triple}").as_str()));
    // Built as release.yml builds the binary it ships.
    let build = commands[position("cargo build ")];
    for flag in [
        "--release",
        "--locked",
        "--target \"$musl\"",
        "--config profile.release.strip=true",
    ] {
        assert!(
            build.contains(flag),
            "the musl build runs with {flag}: {build}"
        );
    }
    let export = commands[position("export GITOPS_PROMOTE_MUSL_BINARY=")];
    assert!(
        export.ends_with("/$musl/release/gitops-promote"),
        "{export}"
    );
    // A fresh machine has neither; installed only where missing, so a re-run does nothing.
    let target = commands[position("rustup target list --installed")];
    assert!(
        target.contains("|| rustup --quiet target add \"$musl\""),
        "{target}"
    );
    assert!(ci_run.contains("command -v musl-gcc >/dev/null ||"));
    assert!(ci_run.contains("apt-get install -y -qq musl-tools"));

    // The binary CI checked is kept as the run's artifact.
    assert!(
        steps
            .iter()
            .any(|s| uses(s).starts_with("actions/upload-artifact@")
                && s["with"]["path"] == format!("target/{triple}/release/gitops-promote"))
    );
}
