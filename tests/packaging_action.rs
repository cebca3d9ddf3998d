//! The packaged action, kept honest: `action.yml` against the inputs, defaults and outputs the
//! binary really has and against README's tables, and the `dist/launch.sh` launcher run for real
//! (a verified binary, a bad or missing checksum, the build-from-source path with a fake cargo, an
//! unsupported platform) with its overhead over running the binary directly; and the static musl
//! binary a release ships, checked to be static and run through the action's step on a PR against
//! the loopback GitHub.
#![cfg(unix)]

mod common;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gitops_promote::config::{ActionInputs, INPUT_NAMES};
use serde_json::Value;
use tempfile::TempDir;

const X64: &str = "gitops-promote-x86_64-unknown-linux-musl";
const ARM64: &str = "gitops-promote-aarch64-unknown-linux-musl";
/// The colours GitHub accepts in `branding.color`.
const BRANDING_COLORS: &[&str] = &[
    "white",
    "black",
    "yellow",
    "blue",
    "green",
    "orange",
    "red",
    "purple",
    "gray-dark",
];

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn action_yml() -> Value {
    let text = fs::read_to_string(repo_path("action.yml")).expect("read action.yml");
    serde_saphyr::from_str(&text).expect("action.yml is valid YAML")
}

fn object<'a>(value: &'a Value, what: &str) -> &'a serde_json::Map<String, Value> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not a mapping: {value}"))
}

fn text<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value}"))
}

/// A YAML scalar as the runner hands it over: always a string.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(_) | Value::Number(_) => value.to_string(),
        Value::Null => String::new(),
        other => panic!("not a scalar: {other}"),
    }
}

/// `INPUT_<NAME>` as the binary reads it: upper case, dashes as underscores.
fn env_var(input: &str) -> String {
    format!("INPUT_{}", input.to_uppercase().replace('-', "_"))
}

fn the_step(action: &Value) -> &serde_json::Map<String, Value> {
    let steps = action["runs"]["steps"]
        .as_array()
        .expect("runs.steps is a list");
    assert_eq!(steps.len(), 1, "one step, the launcher");
    object(&steps[0], "the step")
}

// ---------------------------------------------------------------------------------------------
// action.yml
// ---------------------------------------------------------------------------------------------

#[test]
fn action_yml_is_a_composite_action_with_one_bash_step() {
    let action = action_yml();
    assert!(!text(&action["name"], "name").trim().is_empty());
    assert!(
        !text(&action["description"], "description")
            .trim()
            .is_empty()
    );
    assert!(!text(&action["branding"]["icon"], "branding.icon").is_empty());
    let color = text(&action["branding"]["color"], "branding.color");
    assert!(BRANDING_COLORS.contains(&color), "branding.color {color}");

    assert_eq!(action["runs"]["using"], "composite");
    let step = the_step(&action);
    assert_eq!(step["shell"], "bash");
    assert!(!text(&step["id"], "the step's id").is_empty());
    assert_eq!(
        text(&step["run"], "the step's run").trim(),
        r#"exec "$GITHUB_ACTION_PATH/dist/launch.sh" action"#
    );
}

/// No silent drift: an input the binary reads but `action.yml` lacks could never be set, and one
/// `action.yml` declares but the binary ignores would do nothing.
#[test]
fn the_action_declares_exactly_the_inputs_the_binary_reads() {
    let action = action_yml();
    let inputs = object(&action["inputs"], "inputs");
    let declared: BTreeSet<&str> = inputs.keys().map(String::as_str).collect();
    let read: BTreeSet<&str> = INPUT_NAMES.iter().copied().collect();
    let unset: Vec<_> = read.difference(&declared).collect();
    let ignored: Vec<_> = declared.difference(&read).collect();
    assert!(
        unset.is_empty(),
        "read by the binary, missing from action.yml: {unset:?}"
    );
    assert!(
        ignored.is_empty(),
        "in action.yml, never read by the binary: {ignored:?}"
    );
    for (name, input) in inputs {
        let description = text(&input["description"], &format!("{name}.description"));
        assert!(!description.trim().is_empty(), "{name} has no description");
    }
}

/// Composite actions get no automatic `INPUT_*`: each input must be passed to the step by hand.
#[test]
fn every_input_reaches_the_binary_as_its_env_var() {
    let action = action_yml();
    let step = the_step(&action);
    let env = object(&step["env"], "the step's env");
    let mut expected = BTreeSet::new();
    for name in object(&action["inputs"], "inputs").keys() {
        let var = env_var(name);
        assert_eq!(
            env.get(&var).map(scalar).as_deref(),
            Some(format!("${{{{ inputs.{name} }}}}").as_str()),
            "{var}"
        );
        expected.insert(var);
    }
    let passed: BTreeSet<String> = env
        .keys()
        .filter(|k| k.starts_with("INPUT_"))
        .cloned()
        .collect();
    assert_eq!(passed, expected, "INPUT_* variables without an input");
}

#[test]
fn github_token_defaults_to_the_jobs_token() {
    let action = action_yml();
    assert_eq!(
        action["inputs"]["github-token"]["default"],
        "${{ github.token }}"
    );
}

/// Feeding the binary every default `action.yml` declares must configure it exactly as giving it
/// nothing does; an input left empty must say its default in its description.
#[test]
fn action_defaults_are_the_binarys_defaults() {
    const TOKEN: (&str, &str) = ("INPUT_GITHUB_TOKEN", "ghs_test");
    let action = action_yml();
    let mut defaults = vec![(TOKEN.0.to_owned(), TOKEN.1.to_owned())];
    for (name, input) in object(&action["inputs"], "inputs") {
        if name == "github-token" {
            continue;
        }
        let default = input.get("default").map(scalar).unwrap_or_default();
        if default.is_empty() {
            let description = text(&input["description"], name);
            assert!(
                description.contains("Default"),
                "{name} has no default in action.yml, so its description must say what the \
                 binary defaults to: {description:?}"
            );
        }
        defaults.push((env_var(name), default));
    }

    let bare = ActionInputs::from_iter([(TOKEN.0.to_owned(), TOKEN.1.to_owned())]).unwrap();
    let with_defaults = ActionInputs::from_iter(defaults.clone())
        .unwrap_or_else(|e| panic!("action.yml's defaults are rejected: {e:#}"));
    assert_eq!(format!("{with_defaults:#?}"), format!("{bare:#?}"));

    // The comparison sees values: one changed default would show.
    let changed = defaults.into_iter().map(|(k, v)| match k.as_str() {
        "INPUT_MAX_COMMENTS" => (k, "4".to_owned()),
        _ => (k, v),
    });
    let changed = ActionInputs::from_iter(changed).unwrap();
    assert_ne!(format!("{changed:#?}"), format!("{bare:#?}"));
}

/// The outputs the binary writes to `GITHUB_OUTPUT`, from the `set_output("…")` calls in `src/`
/// (`src/gha.rs` defines it and tests it with made-up names).
fn outputs_the_binary_sets() -> BTreeSet<String> {
    let call = regex::Regex::new(r#"set_output\(\s*"([^"]+)""#).unwrap();
    let mut names = BTreeSet::new();
    let mut dirs = vec![repo_path("src")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("src/gha.rs") {
                let source = fs::read_to_string(&path).unwrap();
                names.extend(call.captures_iter(&source).map(|c| c[1].to_owned()));
            }
        }
    }
    names
}

#[test]
fn the_action_declares_exactly_the_outputs_the_binary_sets() {
    let action = action_yml();
    let id = text(&the_step(&action)["id"], "the step's id").to_owned();
    let outputs = object(&action["outputs"], "outputs");
    let declared: BTreeSet<String> = outputs.keys().cloned().collect();
    let set = outputs_the_binary_sets();
    assert!(
        set.contains("has-changes"),
        "the scan finds outputs: {set:?}"
    );
    assert_eq!(declared, set, "action.yml's outputs vs the binary's");
    for (name, output) in outputs {
        assert_eq!(
            output["value"],
            format!("${{{{ steps.{id}.outputs.{name} }}}}"),
            "{name}"
        );
        assert!(!text(&output["description"], name).trim().is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// README
// ---------------------------------------------------------------------------------------------

/// The cells of a markdown table row; `\|` inside a cell is not a separator.
fn cells(row: &str) -> Vec<String> {
    let row = row.trim().trim_start_matches('|');
    let row = row.strip_suffix('|').unwrap_or(row);
    let mut cells = vec![String::new()];
    let mut chars = row.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cells.last_mut().unwrap().push(chars.next().unwrap())
            }
            '|' => cells.push(String::new()),
            c => cells.last_mut().unwrap().push(c),
        }
    }
    cells.into_iter().map(|c| c.trim().to_owned()).collect()
}

/// The `code spans` of a markdown cell.
fn code_spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// Every row of README's input tables (those whose first header cell says "input") as
/// (input name, its default cell). A row naming several inputs (`a` / `b`) gives one each, with
/// the matching part of a default written the same way.
fn readme_inputs() -> Vec<(String, String)> {
    let readme = fs::read_to_string(repo_path("README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    let mut rows = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].trim_start().starts_with('|') {
            i += 1;
            continue;
        }
        let start = i;
        while i < lines.len() && lines[i].trim_start().starts_with('|') {
            i += 1;
        }
        let table = &lines[start..i];
        let header = cells(table[0]);
        let first = header[0].to_lowercase();
        if !first.contains("input") || first.contains("output") {
            continue;
        }
        for row in table.iter().skip(2) {
            let row = cells(row);
            let names = code_spans(&row[0]);
            let default = row.get(1).cloned().unwrap_or_default();
            let parts: Vec<&str> = default.split(" / ").collect();
            for (n, name) in names.iter().enumerate() {
                let default = if parts.len() == names.len() {
                    parts[n]
                } else {
                    &default
                };
                rows.push(((*name).to_owned(), default.to_owned()));
            }
        }
    }
    rows
}

#[test]
fn readme_input_tables_match_the_action() {
    let action = action_yml();
    let inputs = object(&action["inputs"], "inputs");
    let rows = readme_inputs();
    let mut seen = BTreeSet::new();
    for (name, _) in &rows {
        assert!(seen.insert(name.as_str()), "README lists {name} twice");
    }
    let declared: BTreeSet<&str> = inputs.keys().map(String::as_str).collect();
    let undocumented: Vec<_> = declared.difference(&seen).collect();
    let unknown: Vec<_> = seen.difference(&declared).collect();
    assert!(
        undocumented.is_empty(),
        "in action.yml, missing from README's input tables: {undocumented:?}"
    );
    assert!(
        unknown.is_empty(),
        "in README's input tables, not in action.yml: {unknown:?}"
    );

    // Where README writes a default as code, it is action.yml's default (prose such as
    // "cores" or "its noreply address" describes one action.yml leaves to the binary or spells
    // out; that is not compared).
    let defaults: BTreeMap<&str, String> = inputs
        .iter()
        .map(|(name, input)| {
            let default = input.get("default").map(scalar).unwrap_or_default();
            (name.as_str(), default)
        })
        .collect();
    for (name, cell) in &rows {
        let default = &defaults[name.as_str()];
        if default.is_empty() || default.contains("${{") {
            continue;
        }
        if let Some(first) = code_spans(cell).first() {
            assert_eq!(first, default, "README's default for {name}: {cell:?}");
        }
    }
}

#[test]
fn readme_names_every_output() {
    let readme = fs::read_to_string(repo_path("README.md")).unwrap();
    let action = action_yml();
    for name in object(&action["outputs"], "outputs").keys() {
        assert!(
            readme.contains(&format!("`{name}`")),
            "README never mentions output `{name}`"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// dist/ and the launcher
// ---------------------------------------------------------------------------------------------

/// Held while writing an executable and while forking a process. Without it, a child forked by
/// another test thread can inherit the file's write handle for an instant, and exec'ing the file
/// then fails with "Text file busy".
static EXEC: Mutex<()> = Mutex::new(());

fn exec_lock() -> std::sync::MutexGuard<'static, ()> {
    EXEC.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write_file(path: &Path, contents: &[u8], mode: u32) {
    let _lock = exec_lock();
    fs::write(path, contents).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn assert_failed_with(&self, phrases: &[&str]) {
        assert_eq!(self.code, Some(1), "{self}");
        let error = self
            .stdout
            .lines()
            .find(|l| l.starts_with("::error title=gitops-promote::"))
            .unwrap_or_else(|| panic!("no ::error line: {self}"));
        for phrase in phrases {
            assert!(error.contains(phrase), "{phrase:?} not in {error:?}");
        }
        assert!(!self.stdout.contains(" ran:"), "a binary ran: {self}");
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn run(command: &mut Command) -> Run {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = {
        let _lock = exec_lock();
        command.spawn().expect("spawn")
    };
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn find_on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

fn sha256(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg("-b").arg(path));
    assert_eq!(out.code, Some(0), "{out}");
    out.stdout[..64].to_owned()
}

/// A tiny stand-in for the binary that says which file ran and with what.
fn stub(label: &str) -> String {
    format!(
        "#!/bin/sh\nprintf '{label} ran:'; for a in \"$@\"; do printf ' [%s]' \"$a\"; done\n\
         printf ' INPUT_PATHS=%s\\n' \"$INPUT_PATHS\"\nexit ${{STUB_EXIT:-0}}\n"
    )
}

/// What a runner gives the launcher: an action checkout (`action/` with `dist/` and a
/// `Cargo.toml`), a `PATH` holding only the tools a test grants (never the machine's own cargo),
/// and `RUNNER_TEMP`.
struct Runner {
    dir: TempDir,
}

impl Runner {
    /// bash plus whichever SHA-256 tools this machine has, as on a hosted runner.
    fn new() -> Runner {
        Runner::with_tools(&["bash", "openssl", "sha256sum"])
    }

    fn with_tools(tools: &[&str]) -> Runner {
        let runner = Runner {
            dir: tempfile::tempdir().unwrap(),
        };
        fs::create_dir_all(runner.dist()).unwrap();
        fs::create_dir_all(runner.tools()).unwrap();
        fs::create_dir_all(runner.runner_temp()).unwrap();
        fs::write(
            runner.root().join("Cargo.toml"),
            "[package]\nname = \"gitops-promote\"\n",
        )
        .unwrap();
        assert!(find_on_path("bash").is_some(), "the launcher needs bash");
        for tool in tools {
            runner.grant(tool);
        }
        runner
    }

    /// Puts the machine's `tool` on the runner's PATH; false where the machine has none.
    fn grant(&self, tool: &str) -> bool {
        let Some(real) = find_on_path(tool) else {
            return false;
        };
        std::os::unix::fs::symlink(real, self.tools().join(tool)).unwrap();
        true
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("action")
    }

    fn dist(&self) -> PathBuf {
        self.root().join("dist")
    }

    fn tools(&self) -> PathBuf {
        self.dir.path().join("tools")
    }

    fn runner_temp(&self) -> PathBuf {
        self.dir.path().join("runner-temp")
    }

    fn cargo_calls(&self) -> PathBuf {
        self.dir.path().join("cargo-calls")
    }

    /// Puts an executable into `dist/` and returns its SHA-256.
    fn ship(&self, name: &str, contents: &str) -> String {
        let path = self.dist().join(name);
        write_file(&path, contents.as_bytes(), 0o755);
        sha256(&path)
    }

    fn sums(&self, text: &str) {
        fs::write(self.dist().join("SHA256SUMS"), text).unwrap();
    }

    /// A `cargo` that records its arguments and `CARGO_TARGET_DIR`, and "builds" a stub where
    /// cargo would put the binary, so the build path runs without compiling anything.
    fn fake_cargo(&self) {
        for tool in ["mkdir", "cat", "chmod"] {
            assert!(self.grant(tool), "the fake cargo needs {tool}");
        }
        let script = format!(
            "#!/bin/sh\n\
             {{ printf '%s\\n' \"$@\"; printf 'CARGO_TARGET_DIR=%s\\n' \"$CARGO_TARGET_DIR\"; }} > '{calls}'\n\
             echo '   Compiling gitops-promote v0.1.0 (fake)' >&2\n\
             mkdir -p \"$CARGO_TARGET_DIR/release\"\n\
             cat > \"$CARGO_TARGET_DIR/release/gitops-promote\" <<'EOF'\n{stub}EOF\n\
             chmod 755 \"$CARGO_TARGET_DIR/release/gitops-promote\"\n",
            calls = self.cargo_calls().display(),
            stub = stub("built from source"),
        );
        write_file(&self.tools().join("cargo"), script.as_bytes(), 0o755);
    }

    fn assert_cargo_not_run(&self) {
        assert!(
            !self.cargo_calls().exists(),
            "cargo ran: {}",
            fs::read_to_string(self.cargo_calls()).unwrap()
        );
    }

    /// The launcher as the step runs it: the checked-in `dist/launch.sh`, pointed at this runner's
    /// action checkout.
    fn command(&self, launcher: &Path, os: &str, arch: &str) -> Command {
        let mut command = Command::new(launcher);
        command
            .env_clear()
            .env("PATH", self.tools())
            .env("RUNNER_OS", os)
            .env("RUNNER_ARCH", arch)
            .env("RUNNER_TEMP", self.runner_temp())
            .env("INPUT_PATHS", "overlays/*")
            .current_dir(self.dir.path());
        command
    }

    fn launch(&self, os: &str, arch: &str, args: &[&str]) -> Run {
        let mut command = self.command(&repo_path("dist/launch.sh"), os, arch);
        run(command
            .env("GITOPS_PROMOTE_ACTION_PATH", self.root())
            .args(args))
    }
}

#[test]
fn launcher_runs_a_binary_whose_checksum_matches() {
    let runner = Runner::new();
    let x64 = runner.ship(X64, &stub("x64"));
    let arm64 = runner.ship(ARM64, &stub("arm64"));
    runner.sums(&format!("{x64}  {X64}\n{arm64}  {ARM64}\n"));
    runner.fake_cargo();

    let out = runner.launch("Linux", "X64", &["action", "--flag", "two words"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        out.stdout,
        "x64 ran: [action] [--flag] [two words] INPUT_PATHS=overlays/*\n"
    );
    assert_eq!(out.stderr, "");

    let out = runner.launch("Linux", "ARM64", &["action"]);
    assert_eq!(out.stdout, "arm64 ran: [action] INPUT_PATHS=overlays/*\n");
    runner.assert_cargo_not_run();
}

#[test]
fn launcher_accepts_binary_mode_lines_and_passes_the_exit_code_through() {
    let runner = Runner::new();
    let x64 = runner.ship(X64, &stub("x64"));
    // `sha256sum -b` writes `*name`; hex case does not matter.
    runner.sums(&format!(
        "{}  other-file\r\n{} *{X64}",
        "0".repeat(64),
        x64.to_uppercase()
    ));
    let mut command = runner.command(&repo_path("dist/launch.sh"), "Linux", "X64");
    let out = run(command
        .env("GITOPS_PROMOTE_ACTION_PATH", runner.root())
        .env("STUB_EXIT", "3")
        .arg("action"));
    assert_eq!(out.code, Some(3), "{out}");
    assert!(out.stdout.starts_with("x64 ran: [action]"), "{out}");
}

#[test]
fn launcher_finds_dist_beside_itself() {
    let runner = Runner::new();
    let x64 = runner.ship(X64, &stub("x64"));
    runner.sums(&format!("{x64}  {X64}\n"));
    let launcher = runner.dist().join("launch.sh");
    write_file(
        &launcher,
        &fs::read(repo_path("dist/launch.sh")).unwrap(),
        0o755,
    );

    let out = run(runner.command(&launcher, "Linux", "X64").arg("action"));
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.starts_with("x64 ran: [action]"), "{out}");

    // Called by a relative path, as `bash dist/launch.sh` from the action's root.
    let out = run(runner
        .command(&runner.tools().join("bash"), "Linux", "X64")
        .current_dir(runner.root())
        .args(["dist/launch.sh", "action"]));
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.starts_with("x64 ran: [action]"), "{out}");
}

#[test]
fn launcher_refuses_a_binary_whose_checksum_differs() {
    let runner = Runner::new();
    let x64 = runner.ship(X64, &stub("x64"));
    runner.sums(&format!("{x64}  {X64}\n"));
    runner.ship(X64, &stub("replaced"));
    runner.fake_cargo();

    let out = runner.launch("Linux", "X64", &["action"]);
    out.assert_failed_with(&["checksum mismatch", X64, &x64, "refusing to run it"]);
    runner.assert_cargo_not_run();
}

#[test]
fn launcher_refuses_a_binary_without_its_one_checksum_line() {
    let runner = Runner::new();
    let x64 = runner.ship(X64, &stub("x64"));
    let arm64 = runner.ship(ARM64, &stub("arm64"));
    runner.fake_cargo();

    let out = runner.launch("Linux", "X64", &["action"]);
    out.assert_failed_with(&["SHA256SUMS is missing", X64, "unverified"]);

    runner.sums(&format!("{arm64}  {ARM64}\n"));
    let out = runner.launch("Linux", "X64", &["action"]);
    out.assert_failed_with(&["SHA256SUMS has no line for", X64, "unverified"]);

    // A name is matched whole: neither a path nor a longer name counts.
    runner.sums(&format!(
        "{x64}  ./{X64}\n{x64}  {X64}.old\n{x64}  x{X64}\n"
    ));
    let out = runner.launch("Linux", "X64", &["action"]);
    out.assert_failed_with(&["SHA256SUMS has no line for", X64]);

    runner.sums(&format!("{x64}  {X64}\n{arm64}  {X64}\n"));
    let out = runner.launch("Linux", "X64", &["action"]);
    out.assert_failed_with(&["lists", X64, "more than once"]);
    runner.assert_cargo_not_run();
}

#[test]
fn launcher_refuses_a_listed_binary_that_is_missing_or_not_executable() {
    let runner = Runner::new();
    let x64 = runner.ship(X64, &stub("x64"));
    runner.fake_cargo();
    runner.sums(&format!("{x64}  {ARM64}\n"));
    let out = runner.launch("Linux", "ARM64", &["action"]);
    out.assert_failed_with(&["lists", ARM64, "missing", "incomplete"]);

    runner.sums(&format!("{x64}  {X64}\n"));
    fs::set_permissions(runner.dist().join(X64), fs::Permissions::from_mode(0o644)).unwrap();
    let out = runner.launch("Linux", "X64", &["action"]);
    out.assert_failed_with(&[X64, "not executable"]);
    runner.assert_cargo_not_run();
}

#[test]
fn launcher_builds_from_source_where_the_ref_ships_no_binary() {
    let runner = Runner::new();
    runner.fake_cargo();
    let out = runner.launch("Linux", "X64", &["action", "--flag"]);
    assert_eq!(out.code, Some(0), "{out}");

    let target_dir = runner.runner_temp().join("gitops-promote-target");
    let calls = fs::read_to_string(runner.cargo_calls()).unwrap();
    assert_eq!(
        calls,
        format!(
            "build\n--release\n--locked\n--manifest-path\n{}/Cargo.toml\nCARGO_TARGET_DIR={}\n",
            runner.root().display(),
            target_dir.display()
        )
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with(
            "::notice title=gitops-promote::This ref of the action ships no prebuilt binary for \
             Linux X64"
        ),
        "{out}"
    );
    assert!(
        lines[0].contains("building it from source with cargo"),
        "{out}"
    );
    assert!(lines[1].starts_with("::group::"), "{out}");
    assert_eq!(
        lines[2], "   Compiling gitops-promote v0.1.0 (fake)",
        "{out}"
    );
    assert_eq!(lines[3], "::endgroup::", "{out}");
    assert_eq!(
        lines[4],
        "built from source ran: [action] [--flag] INPUT_PATHS=overlays/*"
    );
    assert_eq!(lines.len(), 5, "{out}");
}

#[test]
fn launcher_builds_from_source_on_platforms_without_a_prebuilt_binary() {
    let runner = Runner::new();
    let x64 = runner.ship(X64, &stub("x64"));
    runner.sums(&format!("{x64}  {X64}\n"));
    runner.fake_cargo();
    let out = runner.launch("macOS", "ARM64", &["action"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout.starts_with(
            "::notice title=gitops-promote::No prebuilt gitops-promote exists for macOS ARM64"
        ),
        "{out}"
    );
    assert!(
        out.stdout
            .ends_with("built from source ran: [action] INPUT_PATHS=overlays/*\n"),
        "{out}"
    );
}

#[test]
fn launcher_fails_clearly_on_an_unsupported_os_without_cargo() {
    let runner = Runner::new();
    let x64 = runner.ship(X64, &stub("x64"));
    runner.sums(&format!("{x64}  {X64}\n"));
    let out = runner.launch("Windows", "X64", &["action"]);
    out.assert_failed_with(&[
        "No prebuilt gitops-promote exists for Windows X64",
        "only for Linux X64 and Linux ARM64",
        "cargo is not on PATH",
    ]);
}

#[test]
fn launcher_fails_clearly_without_cargo_where_the_ref_ships_no_binary() {
    let runner = Runner::new();
    let out = runner.launch("Linux", "X64", &["action"]);
    out.assert_failed_with(&[
        "ships no prebuilt binary for Linux X64",
        "cargo is not on PATH",
        "release tag",
    ]);
}

#[test]
fn launcher_verifies_with_either_sha256_tool() {
    for tool in ["sha256sum", "openssl"] {
        let runner = Runner::with_tools(&["bash"]);
        if !runner.grant(tool) {
            eprintln!("{tool} is not installed here; its path of the launcher is not run");
            continue;
        }
        let x64 = runner.ship(X64, &stub("x64"));
        runner.sums(&format!("{x64}  {X64}\n"));
        let out = runner.launch("Linux", "X64", &["action"]);
        assert_eq!(out.code, Some(0), "{tool}: {out}");
        assert!(out.stdout.starts_with("x64 ran: [action]"), "{tool}: {out}");

        runner.ship(X64, &stub("replaced"));
        let out = runner.launch("Linux", "X64", &["action"]);
        out.assert_failed_with(&["checksum mismatch"]);
    }

    let runner = Runner::with_tools(&["bash"]);
    let x64 = runner.ship(X64, &stub("x64"));
    runner.sums(&format!("{x64}  {X64}\n"));
    let out = runner.launch("Linux", "X64", &["action"]);
    out.assert_failed_with(&["neither openssl nor sha256sum"]);
}

/// What the repository's own `dist/` holds: on `main` only the launcher and its notes; on a
/// release commit, binaries that match `SHA256SUMS` line for line.
#[test]
fn dist_holds_binaries_only_with_their_checksums() {
    let dist = repo_path("dist");
    let mode = fs::metadata(dist.join("launch.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "dist/launch.sh must be executable");

    let binaries: BTreeSet<String> = fs::read_dir(&dist)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("gitops-promote-"))
        .collect();
    let sums = fs::read_to_string(dist.join("SHA256SUMS")).unwrap_or_default();
    let mut listed = BTreeMap::new();
    for line in sums.lines() {
        let (hash, name) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("not a sha256sum line: {line:?}"));
        let name = name.trim_start_matches([' ', '*']).to_owned();
        assert!(listed.insert(name, hash.to_lowercase()).is_none(), "{line}");
    }
    let listed_names: BTreeSet<String> = listed.keys().cloned().collect();
    assert_eq!(binaries, listed_names, "dist/ binaries vs dist/SHA256SUMS");
    for (name, hash) in &listed {
        assert_eq!(&sha256(&dist.join(name)), hash, "dist/{name}");
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The wall-clock time and the CPU time (user + system, of the process and of all it waited for,
/// such as the launcher's openssl) of one successful run. CPU time hardly moves with the load
/// other processes put on the machine; wall-clock time does.
fn time_run(command: &mut Command) -> (Duration, Duration) {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let start = Instant::now();
    let child = {
        let _lock = exec_lock();
        command.spawn().expect("spawn")
    };
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut status = 0;
    // SAFETY: `rusage` is plain data, and `pid` is our own child, which nothing else waits for
    // (`child` is dropped without waiting).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{command:?} failed: status {status}"
    );
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.unsigned_abs())
            + Duration::from_micros(t.tv_usec.unsigned_abs())
    };
    (wall, time(usage.ru_utime) + time(usage.ru_stime))
}

/// Medians of wall-clock and CPU time over `runs` runs of each command, run alternately so load
/// on the machine hits both alike.
struct Timing {
    launched: (Duration, Duration),
    direct: (Duration, Duration),
}

impl Timing {
    fn measure(runs: usize, mut launched: Command, mut direct: Command) -> Timing {
        let (mut lw, mut lc, mut dw, mut dc) = (vec![], vec![], vec![], vec![]);
        for _ in 0..runs {
            let (wall, cpu) = time_run(&mut launched);
            lw.push(wall);
            lc.push(cpu);
            let (wall, cpu) = time_run(&mut direct);
            dw.push(wall);
            dc.push(cpu);
        }
        Timing {
            launched: (median(lw), median(lc)),
            direct: (median(dw), median(dc)),
        }
    }

    fn line(&self, what: &str) -> String {
        let (lw, lc) = self.launched;
        let (dw, dc) = self.direct;
        format!(
            "{what}: wall {:.1} ms via launcher vs {:.1} ms direct = +{:.1} ms; \
             CPU {:.1} ms vs {:.1} ms = +{:.1} ms",
            millis(lw),
            millis(dw),
            millis(lw.saturating_sub(dw)),
            millis(lc),
            millis(dc),
            millis(lc.saturating_sub(dc)),
        )
    }
}

/// The launcher costs a bash start, a read of SHA256SUMS and a SHA-256 of the binary over running
/// the binary directly (target: under 50 ms for the release binary). Measured, printed, never
/// asserted: a loaded machine must not fail the suite. `GITOPS_PROMOTE_MEASURE_BINARY` measures
/// another build (e.g. `target/release/gitops-promote`) instead of the test profile's.
#[test]
fn launcher_overhead_over_the_binary_run_directly() {
    const RUNS: usize = 21;
    let binary: PathBuf = std::env::var_os("GITOPS_PROMOTE_MEASURE_BINARY").map_or_else(
        || env!("CARGO_BIN_EXE_gitops-promote").into(),
        PathBuf::from,
    );
    let runner = Runner::new();
    let shipped = runner.dist().join(X64);
    {
        let _lock = exec_lock();
        if fs::hard_link(&binary, &shipped).is_err() {
            fs::copy(&binary, &shipped).unwrap();
        }
    }
    runner.sums(&format!("{}  {X64}\n", sha256(&shipped)));

    let launcher = |args: &[&str]| {
        let mut command = runner.command(&repo_path("dist/launch.sh"), "Linux", "X64");
        command
            .env("GITOPS_PROMOTE_ACTION_PATH", runner.root())
            .args(args);
        command
    };
    let direct = |program: &Path, args: &[&str]| {
        let mut command = Command::new(program);
        command.env_clear().env("PATH", runner.tools()).args(args);
        command
    };

    // Correct first: the real binary, verified and exec'd, answers like the binary itself.
    let by_launcher = run(&mut launcher(&["--version"]));
    let by_itself = run(&mut direct(&binary, &["--version"]));
    assert_eq!(by_launcher.code, Some(0), "{by_launcher}");
    assert_eq!(by_launcher.stdout, by_itself.stdout);
    assert!(
        by_launcher.stdout.starts_with("gitops-promote "),
        "{by_launcher}"
    );

    let size = fs::metadata(&binary).unwrap().len();
    let real = Timing::measure(
        RUNS,
        launcher(&["--version"]),
        direct(&binary, &["--version"]),
    );

    // The fixed part, without a big file to hash: the launcher in front of a tiny stub.
    let small = Runner::new();
    let hash = small.ship(X64, "#!/bin/sh\nexit 0\n");
    small.sums(&format!("{hash}  {X64}\n"));
    let mut small_launcher = small.command(&repo_path("dist/launch.sh"), "Linux", "X64");
    small_launcher.env("GITOPS_PROMOTE_ACTION_PATH", small.root());
    let fixed = Timing::measure(RUNS, small_launcher, direct(&small.dist().join(X64), &[]));

    let tool = if runner.tools().join("openssl").exists() {
        "openssl"
    } else {
        "sha256sum"
    };
    eprintln!(
        "launcher overhead, medians of {RUNS} runs, checksum by {tool}:\n  {}\n  {}",
        real.line(&format!(
            "{} ({:.1} MB) --version",
            binary.display(),
            size as f64 / 1e6
        )),
        fixed.line("tiny stub (bash, SHA256SUMS, tool start; no hashing to speak of)"),
    );
}

// ---------------------------------------------------------------------------------------------
// The static musl binary a release ships, run through the action's step
// ---------------------------------------------------------------------------------------------

const MUSL_BINARY_VAR: &str = "GITOPS_PROMOTE_MUSL_BINARY";
const PR: u64 = 7;

/// The x86_64 musl release binary `.ci/run` builds before `cargo test` and names in
/// `GITOPS_PROMOTE_MUSL_BINARY`. Missing under `CI=true` is a failure: CI must never pass without
/// having run it. Elsewhere the test says loudly that it checked nothing and why: a release build
/// from scratch takes minutes, and the `cargo test` running it holds the target dir's lock.
fn musl_binary(test: &str) -> Option<PathBuf> {
    use std::io::Write;
    match std::env::var_os(MUSL_BINARY_VAR) {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "{MUSL_BINARY_VAR}={} is not a file; build it with `cargo build --release --locked \
                 --target x86_64-unknown-linux-musl` (as .ci/run does)",
                path.display()
            );
            Some(path)
        }
        None if std::env::var("CI").is_ok_and(|ci| ci == "true") => panic!(
            "CI=true but {MUSL_BINARY_VAR} is not set: .ci/run builds the static musl binary and \
             names it there, so the release binary is checked and exercised on every run"
        ),
        None => {
            let _ = writeln!(
                std::io::stderr(),
                "\nSKIPPED {test}: {MUSL_BINARY_VAR} is not set, so the static release binary was \
                 neither checked nor run. Run .ci/run, or build it and name it:\n  cargo build \
                 --release --locked --target x86_64-unknown-linux-musl\n  {MUSL_BINARY_VAR}=$PWD/\
                 target/x86_64-unknown-linux-musl/release/gitops-promote cargo test --test \
                 packaging_action musl"
            );
            None
        }
    }
}

/// How the kernel would start an ELF executable, from its program headers.
#[derive(Debug)]
struct ElfLinking {
    /// `e_machine`: 62 is x86-64.
    machine: u16,
    /// `PT_INTERP`: the dynamic loader the kernel runs first; a static binary has none.
    interpreter: Option<String>,
    /// `DT_NEEDED` entries: shared libraries the loader would have to find. A static-pie binary
    /// has a dynamic section (it relocates itself) but needs none.
    needed: usize,
}

/// Reads a 64-bit little-endian ELF file's program headers. Read here rather than asked of `file`
/// or `ldd`, which a fresh machine may lack and whose wording differs between versions.
fn elf_linking(path: &Path) -> Result<ElfLinking, String> {
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    const DT_NEEDED: u64 = 1;
    let bytes = fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let at = |offset: u64, len: usize| -> Result<&[u8], String> {
        usize::try_from(offset)
            .ok()
            .and_then(|start| bytes.get(start..start.checked_add(len)?))
            .ok_or_else(|| format!("{} is truncated at byte {offset}", path.display()))
    };
    let u16_at = |offset: u64| at(offset, 2).map(|b| u16::from_le_bytes(b.try_into().unwrap()));
    let u32_at = |offset: u64| at(offset, 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()));
    let u64_at = |offset: u64| at(offset, 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()));
    if at(0, 6)? != b"\x7fELF\x02\x01" {
        return Err(format!(
            "{} is not a 64-bit little-endian ELF file",
            path.display()
        ));
    }
    let machine = u16_at(18)?;
    let (phoff, phentsize, phnum) = (u64_at(32)?, u16_at(54)?, u16_at(56)?);
    let mut linking = ElfLinking {
        machine,
        interpreter: None,
        needed: 0,
    };
    for index in 0..u64::from(phnum) {
        let header = phoff + index * u64::from(phentsize);
        let (offset, size) = (u64_at(header + 8)?, u64_at(header + 32)?);
        match u32_at(header)? {
            PT_INTERP => {
                let name = at(offset, usize::try_from(size).unwrap())?;
                let name = String::from_utf8_lossy(name);
                linking.interpreter = Some(name.trim_end_matches('\0').to_owned());
            }
            PT_DYNAMIC => {
                for entry in (offset..offset + size).step_by(16) {
                    match u64_at(entry)? {
                        0 => break,
                        DT_NEEDED => linking.needed += 1,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(linking)
}

/// The check must be able to fail: the test profile's binary links glibc dynamically.
#[test]
fn elf_check_sees_the_dynamic_loader_of_a_glibc_build() {
    let linking = elf_linking(Path::new(env!("CARGO_BIN_EXE_gitops-promote"))).unwrap();
    let interpreter = linking.interpreter.as_deref().unwrap_or_default();
    assert!(interpreter.contains("ld-linux"), "{linking:?}");
    assert!(linking.needed > 0, "{linking:?}");

    let error = elf_linking(&repo_path("dist/launch.sh")).unwrap_err();
    assert!(error.contains("not a 64-bit little-endian ELF"), "{error}");
}

#[test]
fn musl_release_binary_is_static() {
    let Some(binary) = musl_binary("musl_release_binary_is_static") else {
        return;
    };
    let linking = elf_linking(&binary).unwrap();
    assert_eq!(linking.machine, 62, "not an x86-64 binary: {linking:?}");
    assert_eq!(
        linking.interpreter,
        None,
        "{} asks for a dynamic loader, so it is not static",
        binary.display()
    );
    assert_eq!(
        linking.needed,
        0,
        "{} needs shared libraries",
        binary.display()
    );
    // Started with an empty environment, as static as it claims.
    let out = run(Command::new(&binary).env_clear().arg("--version"));
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.starts_with("gitops-promote "), "{out}");
}

/// A PR from `feature` into `master` that bumps the staging image, served by the loopback
/// GitHub; an action checkout whose `dist/` holds the musl binary as a release commit does; and a
/// runner about to run the action's step for the PR's `pull_request` event.
struct ReleasedActionOnAPullRequest {
    fake: support::FakeGitHub,
    head: String,
    merge: String,
    runner: TempDir,
    workspace: TempDir,
    action: TempDir,
}

impl ReleasedActionOnAPullRequest {
    fn new(binary: &Path) -> Self {
        use support::runner::{FetchDepth, REPO, TOKEN, checkout_like_actions, git};

        let repo = common::GitRepo::base_and_two_overlays();
        repo.checkout("master");
        let base = repo.sha("master");
        repo.git(&["checkout", "-q", "-b", "feature"]);
        repo.edit(
            "overlays/staging/kustomization.yaml",
            "newTag: 1.25.0",
            "newTag: 1.26.0",
        );
        let head = repo.commit("Bump web");
        repo.git(&["update-ref", &format!("refs/pull/{PR}/head"), &head]);
        repo.git(&["checkout", "-q", "--detach", "master"]);
        repo.git(&["merge", "-q", "--no-ff", "-m", "Merge feature", "feature"]);
        let merge = repo.sha("HEAD");
        repo.git(&["update-ref", &format!("refs/pull/{PR}/merge"), &merge]);

        let runner = tempfile::Builder::new()
            .prefix("gitops-promote-runner-")
            .tempdir()
            .unwrap();
        let bare = runner.path().join("served.git");
        let source = repo.path().to_string_lossy().into_owned();
        git(
            runner.path(),
            &["clone", "-q", "--mirror", &source, "served.git"],
        );
        let fake = support::FakeGitHub::start(TOKEN);
        fake.add_repo(REPO, &bare);
        fake.add_pull(
            REPO,
            support::FakePull {
                number: PR,
                head_sha: head.clone(),
                base_sha: base.clone(),
                merge_commit_sha: Some(merge.clone()),
                ..support::FakePull::default()
            },
        );
        let workspace = checkout_like_actions(
            &fake,
            &format!("refs/pull/{PR}/merge"),
            &merge,
            FetchDepth::One,
        );

        // The action as a release tag checks it out: action.yml, and dist/ with the binary under
        // the name launch.sh looks up and SHA256SUMS written as release.yml writes it.
        let action = tempfile::Builder::new()
            .prefix("gitops-promote-action-")
            .tempdir()
            .unwrap();
        let dist = action.path().join("dist");
        fs::create_dir(&dist).unwrap();
        fs::copy(repo_path("action.yml"), action.path().join("action.yml")).unwrap();
        for (file, mode) in [("launch.sh", 0o755), ("README.md", 0o644)] {
            let original = fs::read(repo_path("dist").join(file)).unwrap();
            write_file(&dist.join(file), &original, mode);
        }
        {
            let _lock = exec_lock();
            fs::copy(binary, dist.join(X64)).unwrap();
            fs::set_permissions(dist.join(X64), fs::Permissions::from_mode(0o755)).unwrap();
        }
        let sums = run(Command::new("sha256sum").arg(X64).current_dir(&dist));
        assert_eq!(sums.code, Some(0), "{sums}");
        fs::write(dist.join("SHA256SUMS"), &sums.stdout).unwrap();

        let s = ReleasedActionOnAPullRequest {
            fake,
            head,
            merge,
            runner,
            workspace,
            action,
        };
        s.write_event(&base);
        s
    }

    fn path(&self, name: &str) -> PathBuf {
        self.runner.path().join(name)
    }

    fn shipped(&self) -> PathBuf {
        self.action.path().join("dist").join(X64)
    }

    /// A payload shaped like GitHub's documented `pull_request` webhook.
    fn write_event(&self, base: &str) {
        use support::runner::{PullRequestShas, pull_request_event, repository_json};
        let shas = PullRequestShas {
            head: &self.head,
            base,
            merge: Some(&self.merge),
        };
        let event = pull_request_event("synchronize", PR, &shas, repository_json());
        fs::write(
            self.path("event.json"),
            serde_json::to_vec_pretty(&event).unwrap(),
        )
        .unwrap();
    }

    /// Where the guard `cargo` records a call; the prebuilt binary must make cargo unnecessary.
    fn cargo_calls(&self) -> PathBuf {
        self.path("cargo-calls")
    }

    /// Runs the action's one step as a Linux X64 runner does: its `run:` script under
    /// `bash -eo pipefail`, its `env:` with every `${{ inputs.* }}` resolved to action.yml's
    /// default (the workflow sets none), and the runner's own variables.
    fn run_step(&self) -> Run {
        use support::runner::{REPO, TOKEN};

        let action = action_yml();
        let inputs = object(&action["inputs"], "inputs");
        let step = the_step(&action);
        let expression = regex::Regex::new(r"^\$\{\{ inputs\.([a-z-]+) \}\}$").unwrap();
        let mut env = BTreeMap::new();
        for (key, value) in object(&step["env"], "the step's env") {
            let value = text(value, key);
            let input = &expression
                .captures(value)
                .unwrap_or_else(|| panic!("{key}: {value} is not an input expression"))[1];
            let default = scalar(&inputs[input]["default"]);
            let resolved = match default.as_str() {
                "${{ github.token }}" => TOKEN.to_owned(),
                _ => default,
            };
            env.insert(key.clone(), resolved);
        }

        let tools = self.path("tools");
        fs::create_dir_all(&tools).unwrap();
        write_file(
            &tools.join("cargo"),
            format!(
                "#!/bin/sh\necho \"$@\" >> '{}'\nexit 1\n",
                self.cargo_calls().display()
            )
            .as_bytes(),
            0o755,
        );
        let path = std::env::join_paths(std::iter::once(tools).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))
        .unwrap();

        let mut command = Command::new("bash");
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if ["GITHUB_", "INPUT_", "RUNNER_", "GITOPS_PROMOTE_"]
                .iter()
                .any(|prefix| key.starts_with(prefix))
            {
                command.env_remove(&*key);
            }
        }
        command
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c"])
            .arg(text(&step["run"], "the step's run"))
            .current_dir(self.workspace.path())
            .envs(&env)
            .env("PATH", path)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_ACTION_PATH", self.action.path())
            .env("GITHUB_EVENT_NAME", "pull_request")
            .env("GITHUB_EVENT_PATH", self.path("event.json"))
            .env("GITHUB_REPOSITORY", REPO)
            .env("GITHUB_API_URL", self.fake.api_url())
            .env("GITHUB_SERVER_URL", self.fake.server_url())
            .env("GITHUB_GRAPHQL_URL", self.fake.graphql_url())
            .env("GITHUB_WORKSPACE", self.workspace.path())
            .env("GITHUB_SHA", &self.merge)
            .env("GITHUB_REF", format!("refs/pull/{PR}/merge"))
            .env("GITHUB_RUN_ID", "4242")
            .env("GITHUB_RUN_ATTEMPT", "1")
            .env("GITHUB_ACTOR", "octocat")
            .env("GITHUB_OUTPUT", self.path("output"))
            .env("GITHUB_STEP_SUMMARY", self.path("summary.md"))
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("RUNNER_TEMP", self.runner.path());
        run_with_timeout(&mut command, Duration::from_secs(180))
    }

    fn outputs(&self) -> Vec<(String, String)> {
        let text = fs::read_to_string(self.path("output")).unwrap_or_default();
        support::runner::parse_outputs(&text)
    }

    fn output(&self, name: &str) -> String {
        let outputs = self.outputs();
        outputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no output {name} in {outputs:?}"))
    }
}

/// `run`, but a hang fails the test instead of the suite.
fn run_with_timeout(command: &mut Command, limit: Duration) -> Run {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = {
        let _lock = exec_lock();
        command.spawn().expect("spawn")
    };
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let output = match finished.recv_timeout(limit) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            // SAFETY: the child has not been reaped (its waiter has not returned), so the pid is
            // still ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("{command:?} ran for over {limit:?}");
        }
    };
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn musl_release_binary_posts_the_sticky_comment_through_the_launcher() {
    use support::runner::REPO;
    let Some(binary) =
        musl_binary("musl_release_binary_posts_the_sticky_comment_through_the_launcher")
    else {
        return;
    };
    let s = ReleasedActionOnAPullRequest::new(&binary);
    let out = s.run_step();
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        !out.stdout.contains("::error") && !out.stdout.contains("from source"),
        "{out}"
    );
    assert!(
        !s.cargo_calls().exists(),
        "the launcher called cargo instead of running dist/{X64}"
    );

    let comments = s.fake.comments(REPO, PR);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    let comment = &comments[0];
    assert_eq!(comment.user_login, support::BOT_LOGIN);
    assert!(
        comment.body.starts_with("<!-- gitops-promote id="),
        "{}",
        comment.body
    );
    for line in [
        "-        image: nginx:1.25.0",
        "+        image: nginx:1.26.0",
    ] {
        assert!(
            comment.body.contains(line),
            "{line:?} not in {}",
            comment.body
        );
    }
    assert!(
        comment.body.contains(&format!("head={}", s.head)),
        "{}",
        comment.body
    );
    // From the depth-1 checkout, the released binary compares GitHub's test merge.
    let compared = format!("with `#{PR} merged into master` (`{}`)", &s.merge[..7]);
    assert!(comment.body.contains(&compared), "{}", comment.body);
    assert_eq!(s.output("has-changes"), "true");
    assert_eq!(s.output("affected-overlays"), r#"["overlays/staging"]"#);
    assert!(
        s.output("comment-url")
            .ends_with(&format!("issuecomment-{}", comment.id)),
        "{:?}",
        s.outputs()
    );
    let violations = s.fake.violations();
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn musl_release_binary_with_a_wrong_checksum_is_never_run() {
    use support::runner::REPO;
    let Some(binary) = musl_binary("musl_release_binary_with_a_wrong_checksum_is_never_run") else {
        return;
    };
    let s = ReleasedActionOnAPullRequest::new(&binary);
    let listed = sha256(&s.shipped());
    // One byte more after SHA256SUMS was written: a corrupt or replaced binary, still executable.
    {
        let _lock = exec_lock();
        let mut file = fs::OpenOptions::new()
            .append(true)
            .open(s.shipped())
            .unwrap();
        std::io::Write::write_all(&mut file, b"\0").unwrap();
    }

    // The workspace's checkout already fetched from the fake; nothing may follow it.
    let before = s.fake.requests().len();
    let out = s.run_step();
    out.assert_failed_with(&["checksum mismatch", X64, &listed, "refusing to run it"]);
    assert_eq!(
        s.fake.requests().len(),
        before,
        "the binary ran and called GitHub: {:#?}",
        &s.fake.requests()[before..]
    );
    assert!(s.fake.comments(REPO, PR).is_empty());
    assert!(s.outputs().is_empty(), "{:?}", s.outputs());
    assert!(
        !s.cargo_calls().exists(),
        "a bad binary must not trigger a rebuild"
    );
}

/// Every risk rule has a README row with its id, severity and the catalogue's explanation, so
/// the ids `risk-ignore` takes are all documented and say what the report says.
#[test]
fn readme_documents_every_risk_rule() {
    use gitops_promote_core::risk::Rule;
    let readme = fs::read_to_string(repo_path("README.md")).unwrap();
    for rule in Rule::ALL {
        let row = readme
            .lines()
            .find(|line| line.starts_with(&format!("| `{}` |", rule.id())))
            .unwrap_or_else(|| panic!("README has no row for risk rule `{}`", rule.id()));
        assert!(
            row.starts_with(&format!(
                "| `{}` | {} |",
                rule.id(),
                rule.severity().as_str()
            )),
            "{row}"
        );
        assert!(
            row.ends_with(&format!("| {} |", rule.explanation())),
            "README's row for `{}` does not carry the catalogue's explanation: {row}",
            rule.id()
        );
    }
}
