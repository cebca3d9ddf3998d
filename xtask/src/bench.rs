//! `cargo run --release -p xtask -- bench`: generates many overlays over shared bases and times
//! `diff` against the naive approach (build every root at both refs, then `diff -ru`), measured
//! in the same run; then, for the shared-base change, the render cache (cold and warm) and a
//! simulated 4-job matrix of shards against the same naive run.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read, Seek};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;

use gitops_promote_core::kustomize::KustomizeCommand;
use gitops_promote_core::kustomize::build::find_on_path;
use gitops_promote_core::shard::Partial;

#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Number of overlays in the generated repository.
    #[arg(long, default_value_t = 300)]
    pub(crate) overlays: usize,
    /// Parallel builds for both approaches (default: number of cores).
    #[arg(long)]
    pub(crate) jobs: Option<usize>,
    /// Kustomize command (default: `kustomize build` if `kustomize` is on PATH, else `kubectl kustomize`).
    #[arg(long)]
    pub(crate) kustomize: Option<String>,
    /// Keep the generated repository in this directory instead of a temp dir.
    #[arg(long)]
    pub(crate) keep: Option<PathBuf>,
    /// Measure only the naive render of the shared-base change and the cache and shards
    /// section, for a large repository without the other sections' minutes, e.g.
    /// `bench --overlays 2000 --only-scale`.
    #[arg(long)]
    pub(crate) only_scale: bool,
}

/// The branch every scenario starts from.
const BASE_REF: &str = "base";
const ONE_OVERLAY: &str = "(a) one overlay";
const SHARED_BASE: &str = "(b) shared base";
/// The targets, each judged against a baseline measured in the same run.
const TARGET_SPEEDUP: f64 = 20.0;
const TARGET_BARE_RATIO: f64 = 1.25;
const TARGET_OWN_PEAK_MB: f64 = 200.0;
/// The risk check may add at most this much to scenario (b)'s wall time.
const TARGET_RISK_OVERHEAD: f64 = 1.05;
/// Runs of scenario (b) with and without the risk check, interleaved; the medians are compared,
/// so one noisy run cannot decide the figure.
const RISK_RUNS: usize = 3;
/// The application report may take at most this many times the directory report's time.
const TARGET_APPS_RATIO: f64 = 2.0;
/// The application scenario's repository: this many overlays, three ApplicationSets over them.
const APP_OVERLAYS: usize = 20;
/// The URL the generated ApplicationSets name as this repository.
const APP_REPO_URL: &str = "https://git.example.com/platform/manifests.git";

pub(crate) fn run(args: &BenchArgs) -> Result<()> {
    build_product()?;
    ensure!(args.overlays > 0, "--overlays must be at least 1");
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = args.jobs.unwrap_or(cores).max(1);
    let kustomize = resolve_kustomize(args.kustomize.as_deref())?;
    let (_temp, dir) = workspace(args.keep.as_deref())?;
    let bench = Workspace::create(&dir, args.overlays, &kustomize)?;

    println!(
        "cores: {cores}, jobs: {jobs}, kustomize: {}, overlays: {}",
        kustomize.join(" "),
        args.overlays
    );
    println!("repository: {}", bench.repo.display());
    if args.only_scale {
        let scenario = shared_base(bench.overlays);
        let naive = measure_naive(&bench, &scenario, jobs)?;
        let tool = run_tool(&bench, &scenario, jobs, &[])?;
        let scale = measure_scale(&bench, jobs, naive, tool.measurement)?;
        print!("{}", render_scale(&scale));
        return Ok(());
    }
    let naive = measure_baselines(&bench, jobs)?;
    match measure_tool(&bench, jobs) {
        Ok(tool) => {
            print!("{}", render_table(&naive, Some(&tool)));
            let risks = measure_risks(&bench, jobs)?;
            print!("{}", render_risks(&risks));
            let apps = measure_applications(&dir, &kustomize, jobs)?;
            print!("{}", render_applications(&apps));
            let scale = measure_scale(&bench, jobs, naive.naive_base, tool.base.measurement)?;
            print!("{}", render_scale(&scale));
            print!("{}", render_verdicts(&naive, &tool, &risks, &apps));
            Ok(())
        }
        Err(err) => {
            // The baselines took minutes; show them even when the tool under test fails.
            print!("{}", render_table(&naive, None));
            Err(err)
        }
    }
}

/// A change committed on top of `base`, and what any correct diff must report for it.
struct Scenario {
    label: &'static str,
    head: &'static str,
    /// Overlays whose rendered output differs between `base` and `head`.
    changed_overlays: usize,
    /// Roots (overlays and bases) whose rendered output differs.
    changed_roots: usize,
}

fn one_overlay() -> Scenario {
    Scenario {
        label: ONE_OVERLAY,
        head: "change-one",
        changed_overlays: 1,
        changed_roots: 1,
    }
}

fn shared_base(overlays: usize) -> Scenario {
    // bases/app renders differently too; bases/common does not depend on bases/app.
    Scenario {
        label: SHARED_BASE,
        head: "change-base",
        changed_overlays: overlays,
        changed_roots: overlays + 1,
    }
}

/// What one approach cost in one scenario.
#[derive(Debug, Clone, Copy)]
struct Measurement {
    wall: Duration,
    kustomize_runs: usize,
    /// Naive: the largest kustomize child. Tool: its own VmHWM as it reports it.
    peak_rss_kb: u64,
}

/// The approaches the tool is judged against, all measured before the tool runs.
struct Baselines {
    naive_one: Measurement,
    naive_base: Measurement,
    /// Only the 2N overlay builds of scenario (b), from trees already on disk.
    bare_base: Measurement,
}

struct ToolMeasurement {
    measurement: Measurement,
    /// Risks in the report.
    risks: usize,
    /// The report's own statistics: seconds spent finding risks, builds, what the cache did.
    stats: ToolStats,
    /// Max RSS of the tool's process tree at wait time, kustomize grandchildren included.
    tree_peak_rss_kb: u64,
}

struct ToolRuns {
    one: ToolMeasurement,
    base: ToolMeasurement,
}

/// The directory a run works in: the generated repository, the counting wrapper and all outputs.
struct Workspace {
    dir: PathBuf,
    repo: PathBuf,
    overlays: usize,
    wrapper: KustomizeWrapper,
}

impl Workspace {
    fn create(dir: &Path, overlays: usize, kustomize: &[String]) -> Result<Self> {
        let repo = dir.join("repo");
        eprintln!(
            "bench: generating {overlays} overlays in {}",
            repo.display()
        );
        generate_repo(&repo, overlays, false)?;
        let wrapper = KustomizeWrapper::create(dir, kustomize)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            repo,
            overlays,
            wrapper,
        })
    }
}

fn measure_baselines(bench: &Workspace, jobs: usize) -> Result<Baselines> {
    let naive_one = measure_naive(bench, &one_overlay(), jobs)?;
    let naive_base = measure_naive(bench, &shared_base(bench.overlays), jobs)?;
    let bare_base = measure_bare_builds(bench, &shared_base(bench.overlays), jobs)?;
    Ok(Baselines {
        naive_one,
        naive_base,
        bare_base,
    })
}

fn measure_tool(bench: &Workspace, jobs: usize) -> Result<ToolRuns> {
    let one = run_tool(bench, &one_overlay(), jobs, &[])?;
    let base = run_tool(bench, &shared_base(bench.overlays), jobs, &[])?;
    Ok(ToolRuns { one, base })
}

/// Scenario (b) with the risk check (the default) and without it (`--risk-ignore all`).
struct RiskRuns {
    with: Vec<ToolMeasurement>,
    without: Vec<ToolMeasurement>,
}

impl RiskRuns {
    fn median(runs: &[ToolMeasurement]) -> Duration {
        let mut walls: Vec<Duration> = runs.iter().map(|r| r.measurement.wall).collect();
        walls.sort();
        walls[walls.len() / 2]
    }

    /// Wall time with the risk check over wall time without it, medians of the same run.
    fn overhead(&self) -> f64 {
        RiskRuns::median(&self.with).as_secs_f64() / RiskRuns::median(&self.without).as_secs_f64()
    }
}

fn measure_risks(bench: &Workspace, jobs: usize) -> Result<RiskRuns> {
    let scenario = shared_base(bench.overlays);
    let mut runs = RiskRuns {
        with: Vec::new(),
        without: Vec::new(),
    };
    for _ in 0..RISK_RUNS {
        runs.without
            .push(run_tool(bench, &scenario, jobs, &["--risk-ignore", "all"])?);
        runs.with.push(run_tool(bench, &scenario, jobs, &[])?);
    }
    let found = runs.with[0].risks;
    ensure!(
        found >= bench.overlays,
        "{SHARED_BASE}: expected a risk in each of the {} overlays, found {found}",
        bench.overlays
    );
    ensure!(
        runs.without.iter().all(|r| r.risks == 0),
        "--risk-ignore all still reported risks"
    );
    Ok(runs)
}

/// The temp dir guard (dropped last) and the directory to work in.
fn workspace(keep: Option<&Path>) -> Result<(Option<tempfile::TempDir>, PathBuf)> {
    let Some(keep) = keep else {
        let temp = tempfile::Builder::new()
            .prefix("gitops-promote-bench-")
            .tempdir()
            .context("creating a temp dir for the benchmark")?;
        let dir = temp.path().to_path_buf();
        return Ok((Some(temp), dir));
    };
    fs::create_dir_all(keep).with_context(|| format!("creating {}", keep.display()))?;
    let mut entries = fs::read_dir(keep).with_context(|| format!("reading {}", keep.display()))?;
    // Never mix two runs' outputs, and never delete what the user had there.
    ensure!(
        entries.next().is_none(),
        "--keep {} must be an empty directory",
        keep.display()
    );
    Ok((None, keep.to_path_buf()))
}

/// The kustomize command as argv, chosen like `diff --kustomize` chooses it.
fn resolve_kustomize(given: Option<&str>) -> Result<Vec<String>> {
    let command = KustomizeCommand::given_or_detected(given)
        .map_err(|e| anyhow::anyhow!("--kustomize: {e}"))?;
    if given.is_none() && find_on_path(&command.program).is_none() {
        bail!("neither kustomize nor kubectl is on PATH; pass --kustomize");
    }
    Ok(std::iter::once(command.program)
        .chain(command.args)
        .collect())
}

// ---------------------------------------------------------------------------------------------
// The generated repository

const APP_IMAGE: &str = "registry.example.com/shop/app";
/// The overlay whose image tag scenario (a) bumps.
const CHANGED_OVERLAY: usize = 1;

fn overlay_dir(index: usize) -> String {
    format!("overlays/team-{index:03}")
}

fn overlay_tag(index: usize) -> String {
    format!("1.{index}.0")
}

/// Writes the overlays over shared bases, commits them as `base`, and adds one branch per scenario.
fn generate_repo(repo: &Path, overlays: usize, applications: bool) -> Result<()> {
    fs::create_dir_all(repo).with_context(|| format!("creating {}", repo.display()))?;
    git(repo, &["init", "--quiet", "--initial-branch", BASE_REF])?;
    let mut files = base_files(overlays);
    if applications {
        files.extend(application_files(overlays));
    }
    for (path, content) in files {
        write_file(&repo.join(path), &content)?;
    }
    commit_all(repo, "Shared bases and overlays")?;

    let bumped = overlay_kustomization(CHANGED_OVERLAY, "1.1.1");
    commit_on_branch(
        repo,
        one_overlay().head,
        &format!("{}/kustomization.yaml", overlay_dir(CHANGED_OVERLAY)),
        &bumped,
    )?;
    commit_on_branch(
        repo,
        shared_base(overlays).head,
        "bases/app/deployment.yaml",
        &deployment_yaml("debug", false),
    )?;
    git(repo, &["checkout", "--quiet", BASE_REF])
}

/// Three ApplicationSets in the shapes of the Argo CD docs' examples, 3 × `overlays`
/// applications: staging (git directories) and a second staging cluster (matrix of git
/// directories × a cluster list) deploy from `base`, the compared branch; production (git files,
/// one `config.json` per overlay) deploys from `release`, so the report lists it as not deployed
/// from this branch.
fn application_files(overlays: usize) -> Vec<(String, String)> {
    let staging = format!(
        "\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: staging
spec:
  goTemplate: true
  generators:
    - git:
        repoURL: {APP_REPO_URL}
        revision: {BASE_REF}
        directories:
          - path: overlays/*
  template:
    metadata:
      name: '{{{{.path.basename}}}}-staging'
    spec:
      project: default
      source:
        repoURL: {APP_REPO_URL}
        targetRevision: {BASE_REF}
        path: '{{{{.path.path}}}}'
      destination:
        server: https://kubernetes.default.svc
        namespace: '{{{{.path.basename}}}}'
"
    );
    let second_cluster = format!(
        "\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: staging-clusters
spec:
  generators:
    - matrix:
        generators:
          - git:
              repoURL: {APP_REPO_URL}
              revision: {BASE_REF}
              directories:
                - path: overlays/*
          - list:
              elements:
                - cluster: eu
                  url: https://eu.k8s.example.com
  template:
    metadata:
      name: '{{{{path.basename}}}}-{{{{cluster}}}}'
    spec:
      project: default
      source:
        repoURL: {APP_REPO_URL}
        targetRevision: {BASE_REF}
        path: '{{{{path}}}}'
      destination:
        server: '{{{{url}}}}'
        namespace: '{{{{path.basename}}}}'
"
    );
    let production = format!(
        "\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: production
spec:
  generators:
    - git:
        repoURL: {APP_REPO_URL}
        revision: release
        files:
          - path: overlays/*/config.json
  template:
    metadata:
      name: '{{{{team}}}}-production'
    spec:
      project: default
      source:
        repoURL: {APP_REPO_URL}
        targetRevision: release
        path: '{{{{path}}}}'
      destination:
        server: https://prod.k8s.example.com
        namespace: '{{{{team}}}}'
"
    );
    let mut files = vec![
        ("argocd/staging.yaml".to_string(), staging),
        ("argocd/staging-clusters.yaml".to_string(), second_cluster),
        ("argocd/production.yaml".to_string(), production),
    ];
    for i in 1..=overlays {
        files.push((
            format!("{}/config.json", overlay_dir(i)),
            format!("{{\"team\": \"team-{i:03}\"}}\n"),
        ));
    }
    files
}

/// Every file of the `base` commit, as (path in the repository, content).
fn base_files(overlays: usize) -> Vec<(String, String)> {
    let shared = [
        (
            "bases/common/kustomization.yaml",
            COMMON_KUSTOMIZATION.to_string(),
        ),
        (
            "bases/common/networkpolicy.yaml",
            NETWORK_POLICY.to_string(),
        ),
        (
            "bases/app/kustomization.yaml",
            APP_KUSTOMIZATION.to_string(),
        ),
        ("bases/app/deployment.yaml", deployment_yaml("info", true)),
        ("bases/app/service.yaml", SERVICE.to_string()),
        (
            "bases/app/app.properties",
            "greeting=hello\ntimeout_seconds=30\n".to_string(),
        ),
        (
            "components/monitoring/kustomization.yaml",
            MONITORING_COMPONENT.to_string(),
        ),
    ];
    let overlay_files = (1..=overlays).map(|i| {
        (
            format!("{}/kustomization.yaml", overlay_dir(i)),
            overlay_kustomization(i, &overlay_tag(i)),
        )
    });
    shared
        .into_iter()
        .map(|(path, content)| (path.to_string(), content))
        .chain(overlay_files)
        .collect()
}

const COMMON_KUSTOMIZATION: &str = "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
labels:
  - pairs:
      app.kubernetes.io/part-of: shop
resources:
  - networkpolicy.yaml
";

const NETWORK_POLICY: &str = "\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-ingress
spec:
  podSelector: {}
  policyTypes:
    - Ingress
";

const APP_KUSTOMIZATION: &str = "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../common
  - deployment.yaml
  - service.yaml
configMapGenerator:
  - name: app-config
    files:
      - app.properties
";

const SERVICE: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: app
spec:
  selector:
    app.kubernetes.io/name: app
  ports:
    - port: 80
      targetPort: 8080
";

const MONITORING_COMPONENT: &str = "\
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
patches:
  - target:
      kind: Deployment
      name: app
    patch: |-
      - op: add
        path: /spec/template/metadata/annotations
        value:
          prometheus.io/scrape: \"true\"
          prometheus.io/port: \"8080\"
";

/// The shared Deployment; scenario (b) changes its `LOG_LEVEL` and drops its resource requests,
/// which the risk check reports in every overlay.
fn deployment_yaml(log_level: &str, requests: bool) -> String {
    let resources = if requests {
        "          resources:\n            requests:\n              cpu: 100m\n              memory: 128Mi\n"
    } else {
        ""
    };
    format!(
        "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: app
  template:
    metadata:
      labels:
        app.kubernetes.io/name: app
    spec:
      containers:
        - name: app
          image: {APP_IMAGE}:1.0.0
          ports:
            - containerPort: 8080
          env:
            - name: LOG_LEVEL
              value: {log_level}
          envFrom:
            - configMapRef:
                name: app-config
{resources}"
    )
}

/// One team's overlay: its namespace, labels, replica count and image tag; every other one
/// also pulls in the monitoring component, so the closure is not the same for all overlays.
fn overlay_kustomization(index: usize, tag: &str) -> String {
    let team = format!("team-{index:03}");
    let components = if index.is_multiple_of(2) {
        "components:\n  - ../../components/monitoring\n"
    } else {
        ""
    };
    let replicas = index % 5 + 1;
    format!(
        "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {team}
labels:
  - pairs:
      team: {team}
resources:
  - ../../bases/app
{components}patches:
  - target:
      kind: Deployment
      name: app
    patch: |-
      - op: replace
        path: /spec/replicas
        value: {replicas}
images:
  - name: {APP_IMAGE}
    newTag: \"{tag}\"
"
    )
}

fn write_file(path: &Path, content: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    fs::write(path, content).with_context(|| format!("writing {}", path.display()))
}

/// Branches off `base`, rewrites one file and commits it.
fn commit_on_branch(repo: &Path, branch: &str, path: &str, content: &str) -> Result<()> {
    git(repo, &["checkout", "--quiet", "-b", branch, BASE_REF])?;
    write_file(&repo.join(path), content)?;
    commit_all(repo, &format!("Change {path}"))
}

fn commit_all(repo: &Path, message: &str) -> Result<()> {
    git(repo, &["add", "--all"])?;
    git(
        repo,
        &[
            "-c",
            "commit.gpgsign=false",
            "commit",
            "--quiet",
            "--message",
            message,
        ],
    )
}

fn git(repo: &Path, args: &[&str]) -> Result<()> {
    let output = Command::new("git")
        .args(args)
        .current_dir(repo)
        // A fixed identity, so the run works on machines and runners with no git config.
        .envs([
            ("GIT_AUTHOR_NAME", "bench"),
            ("GIT_AUTHOR_EMAIL", "bench@example.com"),
            ("GIT_COMMITTER_NAME", "bench"),
            ("GIT_COMMITTER_EMAIL", "bench@example.com"),
        ])
        .output()
        .with_context(|| format!("running git {}", args.join(" ")))?;
    ensure!(
        output.status.success(),
        "git {} failed in {}: {}",
        args.join(" "),
        repo.display(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Counting kustomize runs

/// A shell script that logs one line per call and then execs the real kustomize, so both
/// approaches are counted the same way and pay the same (tiny) overhead.
struct KustomizeWrapper {
    script: PathBuf,
    log: PathBuf,
}

impl KustomizeWrapper {
    fn create(dir: &Path, kustomize: &[String]) -> Result<Self> {
        let script = dir.join("kustomize-counting.sh");
        let log = dir.join("kustomize-invocations.log");
        let quoted_log = quote(&log.to_string_lossy())?;
        let quoted_argv = kustomize
            .iter()
            .map(|arg| quote(arg))
            .collect::<Result<Vec<_>>>()?
            .join(" ");
        let body = format!("#!/bin/sh\necho run >> {quoted_log}\nexec {quoted_argv} \"$@\"\n");
        fs::write(&script, body).with_context(|| format!("writing {}", script.display()))?;
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755))
            .with_context(|| format!("making {} executable", script.display()))?;
        Ok(Self { script, log })
    }

    /// Clears the log; call before each measurement.
    fn reset(&self) -> Result<()> {
        fs::write(&self.log, "").with_context(|| format!("clearing {}", self.log.display()))
    }

    fn count(&self) -> Result<usize> {
        match fs::read(&self.log) {
            Ok(bytes) => Ok(bytes.iter().filter(|&&b| b == b'\n').count()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(err) => Err(err).with_context(|| format!("reading {}", self.log.display())),
        }
    }
}

fn quote(word: &str) -> Result<String> {
    Ok(shlex::try_quote(word)
        .with_context(|| format!("cannot quote {word:?} for sh"))?
        .into_owned())
}

// ---------------------------------------------------------------------------------------------
// The naive approach

/// Exports both refs, builds every root at both, and diffs the output trees; all of it timed.
fn measure_naive(bench: &Workspace, scenario: &Scenario, jobs: usize) -> Result<Measurement> {
    eprintln!(
        "bench: {} naive: export both refs, build every root, diff -ru",
        scenario.label
    );
    let work = bench.dir.join(format!("naive-{}", scenario.head));
    bench.wrapper.reset()?;
    let started = Instant::now();
    let mut builds = Vec::new();
    for (side, git_ref) in [("base", BASE_REF), ("head", scenario.head)] {
        let tree = work.join("trees").join(side);
        export_tree(&bench.repo, git_ref, &tree)?;
        builds.extend(plan_builds(
            &tree,
            &discover_roots(&tree)?,
            &work.join("out").join(side),
        )?);
    }
    let peak_rss_kb = build_all(&bench.wrapper.script, &builds, jobs)?;
    let differing = diff_trees(&work.join("out"), &work.join("diff.txt"))?;
    let wall = started.elapsed();
    ensure!(
        differing == scenario.changed_roots,
        "{}: naive diff found {differing} differing outputs, expected {} (see {})",
        scenario.label,
        scenario.changed_roots,
        work.join("diff.txt").display()
    );
    Ok(Measurement {
        wall,
        kustomize_runs: bench.wrapper.count()?,
        peak_rss_kb,
    })
}

/// The floor for scenario (b): only the 2N overlay builds, from the trees the naive run exported.
fn measure_bare_builds(bench: &Workspace, scenario: &Scenario, jobs: usize) -> Result<Measurement> {
    eprintln!(
        "bench: {} bare builds: every overlay at both refs, nothing else",
        scenario.label
    );
    let naive = bench.dir.join(format!("naive-{}", scenario.head));
    let overlays: Vec<PathBuf> = (1..=bench.overlays)
        .map(|i| PathBuf::from(overlay_dir(i)))
        .collect();
    let mut builds = Vec::new();
    for side in ["base", "head"] {
        let out = bench.dir.join("bare").join(side);
        builds.extend(plan_builds(
            &naive.join("trees").join(side),
            &overlays,
            &out,
        )?);
    }
    bench.wrapper.reset()?;
    let started = Instant::now();
    let peak_rss_kb = build_all(&bench.wrapper.script, &builds, jobs)?;
    let wall = started.elapsed();
    Ok(Measurement {
        wall,
        kustomize_runs: bench.wrapper.count()?,
        peak_rss_kb,
    })
}

/// `git archive REF | tar -x -C dest`: the full tree, as a script would get it.
fn export_tree(repo: &Path, git_ref: &str, dest: &Path) -> Result<()> {
    fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    let mut archive = Command::new("git")
        .args(["archive", "--format=tar", git_ref])
        .current_dir(repo)
        .stdout(Stdio::piped())
        .spawn()
        .context("running git archive")?;
    let tar_input = archive.stdout.take().context("git archive has no stdout")?;
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dest)
        .stdin(tar_input)
        .status();
    let archived = archive.wait().context("waiting for git archive")?;
    ensure!(
        tar.context("running tar -x")?.success(),
        "tar -x into {} failed",
        dest.display()
    );
    ensure!(
        archived.success(),
        "git archive {git_ref} failed in {}",
        repo.display()
    );
    Ok(())
}

/// Every directory holding a kustomization, relative to `tree`, sorted. Components are left
/// out: kustomize refuses to build them on their own.
fn discover_roots(tree: &Path) -> Result<Vec<PathBuf>> {
    let mut roots = Vec::new();
    let mut pending = vec![tree.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
            let path = entry.path();
            if entry
                .file_type()
                .with_context(|| format!("inspecting {}", path.display()))?
                .is_dir()
            {
                pending.push(path);
            } else if is_buildable_kustomization(&path)? {
                roots.push(
                    dir.strip_prefix(tree)
                        .expect("walk stays inside the tree")
                        .to_path_buf(),
                );
            }
        }
    }
    roots.sort();
    Ok(roots)
}

fn is_buildable_kustomization(path: &Path) -> Result<bool> {
    let name = path.file_name().and_then(|n| n.to_str());
    if !matches!(
        name,
        Some("kustomization.yaml" | "kustomization.yml" | "Kustomization")
    ) {
        return Ok(false);
    }
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    // A top-level `kind:` line is all a script would look at; no YAML parser needed for that.
    Ok(!text
        .lines()
        .any(|line| line.trim_end() == "kind: Component"))
}

/// One kustomize build: the root to render and the file that receives its output.
struct Build {
    root: PathBuf,
    output: PathBuf,
}

/// A build per root, writing to `out/<root>.yaml`; creates the output directories up front.
fn plan_builds(tree: &Path, roots: &[PathBuf], out: &Path) -> Result<Vec<Build>> {
    roots
        .iter()
        .map(|root| {
            let output = out.join(root).with_extension("yaml");
            let parent = output.parent().expect("output path has a parent");
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            Ok(Build {
                root: tree.join(root),
                output,
            })
        })
        .collect()
}

/// Runs `builds` on `jobs` worker threads; returns the largest kustomize child's max RSS in KiB.
fn build_all(kustomize: &Path, builds: &[Build], jobs: usize) -> Result<u64> {
    let next = AtomicUsize::new(0);
    let peak = AtomicU64::new(0);
    let worker = || -> Result<()> {
        while let Some(build) = builds.get(next.fetch_add(1, Ordering::Relaxed)) {
            peak.fetch_max(run_build(kustomize, build)?, Ordering::Relaxed);
        }
        Ok(())
    };
    thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs).map(|_| scope.spawn(worker)).collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect::<Result<Vec<()>>>()
    })?;
    Ok(peak.into_inner())
}

fn run_build(kustomize: &Path, build: &Build) -> Result<u64> {
    let output = File::create(&build.output)
        .with_context(|| format!("creating {}", build.output.display()))?;
    // An unnamed file rather than a pipe: nobody drains a pipe while we block in wait4.
    let mut stderr = tempfile::tempfile().context("creating a file for kustomize's stderr")?;
    let child = Command::new(kustomize)
        .arg(&build.root)
        .stdout(output)
        .stderr(
            stderr
                .try_clone()
                .context("sharing kustomize's stderr file")?,
        )
        .spawn()
        .with_context(|| format!("running {}", kustomize.display()))?;
    let (status, peak_rss_kb) = wait_with_peak_rss(child)?;
    if !status.success() {
        let mut message = String::new();
        stderr
            .rewind()
            .and_then(|()| stderr.read_to_string(&mut message))
            .ok();
        bail!(
            "kustomize build of {} failed ({status}): {}",
            build.root.display(),
            message.trim()
        );
    }
    Ok(peak_rss_kb)
}

/// `diff -ru base head > report`; returns how many output files differ.
fn diff_trees(out: &Path, report: &Path) -> Result<usize> {
    let file = File::create(report).with_context(|| format!("creating {}", report.display()))?;
    let status = Command::new("diff")
        .args(["-ru", "base", "head"])
        .current_dir(out)
        .stdout(file)
        .status()
        .context("running diff -ru")?;
    // diff exits 1 when the trees differ, which is the expected outcome here.
    ensure!(
        matches!(status.code(), Some(0 | 1)),
        "diff -ru in {} failed ({status})",
        out.display()
    );
    let text =
        fs::read_to_string(report).with_context(|| format!("reading {}", report.display()))?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("diff -ru ") || l.starts_with("Only in "))
        .count())
}

/// Reaps `child` and returns its exit status with the max RSS (KiB) of it and of every
/// descendant it waited for. Per-child `wait4`, unlike `RUSAGE_CHILDREN`, does not mix in
/// git, tar or diff, nor depend on what this process ran before.
fn wait_with_peak_rss(child: Child) -> Result<(ExitStatus, u64)> {
    let pid = libc::pid_t::try_from(child.id()).context("child pid out of range")?;
    let mut status = 0;
    // SAFETY: rusage is plain old data; all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our child and not yet reaped (std never waited on it); both pointers
        // are valid for writes for the duration of the call.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err).with_context(|| format!("waiting for process {pid}"));
        }
    }
    Ok((ExitStatus::from_raw(status), max_rss_kb(&usage)))
}

fn max_rss_kb(usage: &libc::rusage) -> u64 {
    let max_rss = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    // Linux reports KiB; macOS reports bytes.
    if cfg!(target_os = "macos") {
        max_rss / 1024
    } else {
        max_rss
    }
}

// ---------------------------------------------------------------------------------------------
// The tool under test

/// The parts of `diff --format json` the benchmark checks.
#[derive(Deserialize)]
struct ToolReport {
    stats: ToolStats,
    overlays: Vec<ToolOverlay>,
    #[serde(default)]
    applications: Option<ToolApplications>,
}

#[derive(Deserialize)]
struct ToolApplications {
    not_deployed: Vec<serde_json::Value>,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct ToolStats {
    peak_rss_kb: u64,
    #[serde(default)]
    risk_seconds: f64,
    /// Overlays the change affects, and the kustomize runs the tool made for them.
    #[serde(default)]
    affected: usize,
    #[serde(default)]
    builds: usize,
    /// Present with `--cache`.
    #[serde(default)]
    cache: Option<ToolCacheStats>,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct ToolCacheStats {
    hits: usize,
    written: usize,
}

#[derive(Deserialize)]
struct ToolOverlay {
    path: String,
    status: String,
    #[serde(default)]
    risks: Vec<serde_json::Value>,
}

/// Runs the product binary's `diff` on the scenario and checks it reports the expected overlays.
fn run_tool(
    bench: &Workspace,
    scenario: &Scenario,
    jobs: usize,
    extra: &[&str],
) -> Result<ToolMeasurement> {
    eprintln!(
        "bench: {} gitops-promote diff {}",
        scenario.label,
        extra.join(" ")
    );
    let json = bench.dir.join(format!("tool-{}.json", scenario.head));
    let mut command = diff_command(bench, scenario.head, jobs)?;
    command
        .args(["--format", "json", "--output"])
        .arg(&json)
        .args(extra);
    let log = bench.dir.join(format!("tool-{}.log", scenario.head));
    let timed = run_timed(bench, command, &log, scenario.label)?;

    let report = read_tool_report(&json)?;
    check_tool_report(&report, scenario)?;
    let measurement = Measurement {
        wall: timed.wall,
        kustomize_runs: timed.kustomize_runs,
        peak_rss_kb: report.stats.peak_rss_kb,
    };
    Ok(ToolMeasurement {
        measurement,
        risks: report.overlays.iter().map(|o| o.risks.len()).sum(),
        stats: report.stats,
        tree_peak_rss_kb: timed.tree_peak_rss_kb,
    })
}

/// `gitops-promote diff` of `head` against the base branch in the generated repository, through
/// the counting wrapper; the caller adds the output options.
fn diff_command(bench: &Workspace, head: &str, jobs: usize) -> Result<Command> {
    let wrapper = quote(&bench.wrapper.script.to_string_lossy())?;
    let mut command = Command::new(product_binary()?);
    command
        .arg("diff")
        .arg("--repo")
        .arg(&bench.repo)
        .args(["--base", BASE_REF, "--head", head])
        .args([
            "--jobs",
            &jobs.to_string(),
            "--kustomize",
            &wrapper,
            "--quiet",
        ]);
    Ok(command)
}

/// One timed run of the product binary.
struct Timed {
    wall: Duration,
    kustomize_runs: usize,
    /// Max RSS of its process tree at wait time, kustomize grandchildren included.
    tree_peak_rss_kb: u64,
}

/// Runs `command` with its output in `log` and times it; fails with that output, under `label`,
/// if it fails.
fn run_timed(bench: &Workspace, mut command: Command, log: &Path, label: &str) -> Result<Timed> {
    let file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    command
        .stdout(file.try_clone().context("sharing the tool's log file")?)
        .stderr(file);
    bench.wrapper.reset()?;
    let started = Instant::now();
    let child = command
        .spawn()
        .with_context(|| format!("{label}: running {:?}", command.get_program()))?;
    let (status, tree_peak_rss_kb) = wait_with_peak_rss(child)?;
    let wall = started.elapsed();
    if !status.success() {
        let output = fs::read_to_string(log).unwrap_or_default();
        let subcommand = command
            .get_args()
            .next()
            .unwrap_or_default()
            .to_string_lossy();
        bail!(
            "{label}: gitops-promote {subcommand} failed ({status}):\n{}",
            output.trim()
        );
    }
    Ok(Timed {
        wall,
        kustomize_runs: bench.wrapper.count()?,
        tree_peak_rss_kb,
    })
}

fn read_tool_report(path: &Path) -> Result<ToolReport> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("parsing {} as the diff's JSON report", path.display()))
}

/// A fast wrong answer is no answer: the tool must see exactly the overlays the change touches.
fn check_tool_report(report: &ToolReport, scenario: &Scenario) -> Result<()> {
    let changed: Vec<&str> = report
        .overlays
        .iter()
        .filter(|o| o.status == "changed")
        .map(|o| o.path.as_str())
        .collect();
    ensure!(
        changed.len() == scenario.changed_overlays,
        "{}: gitops-promote reported {} changed overlays, expected {} (changed: {})",
        scenario.label,
        changed.len(),
        scenario.changed_overlays,
        changed.join(", ")
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Rendering

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn render_table(naive: &Baselines, tool: Option<&ToolRuns>) -> String {
    let mut rows = vec![(ONE_OVERLAY, "naive", naive.naive_one, None)];
    if let Some(tool) = tool {
        rows.push((
            ONE_OVERLAY,
            "gitops-promote",
            tool.one.measurement,
            Some(tool.one.tree_peak_rss_kb),
        ));
    }
    rows.push((SHARED_BASE, "naive", naive.naive_base, None));
    rows.push((SHARED_BASE, "bare builds", naive.bare_base, None));
    if let Some(tool) = tool {
        rows.push((
            SHARED_BASE,
            "gitops-promote",
            tool.base.measurement,
            Some(tool.base.tree_peak_rss_kb),
        ));
    }

    let mut out = format!(
        "\n{:<16}  {:<14}  {:>8}  {:>14}  {:>11}  {:>15}\n",
        "scenario", "approach", "wall s", "kustomize runs", "peak RSS MB", "incl. kustomize"
    );
    for (scenario, approach, m, tree_kb) in rows {
        let tree = tree_kb.map_or_else(|| "-".to_string(), |kb| format!("{:.1}", mb(kb)));
        let _ = writeln!(
            out,
            "{scenario:<16}  {approach:<14}  {:>8.2}  {:>14}  {:>11.1}  {tree:>15}",
            m.wall.as_secs_f64(),
            m.kustomize_runs,
            mb(m.peak_rss_kb),
        );
    }
    out.push_str(
        "peak RSS MB: naive and bare builds = largest kustomize process; gitops-promote = its own \
         process (VmHWM).\nincl. kustomize: largest single process in the gitops-promote process tree (wait4).\n",
    );
    out
}

/// Each run's wall time, as the figures list them.
fn walls(runs: &[ToolMeasurement]) -> String {
    runs.iter()
        .map(|r| format!("{:.2}", r.measurement.wall.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn render_risks(risks: &RiskRuns) -> String {
    let in_process: f64 =
        risks.with.iter().map(|r| r.stats.risk_seconds).sum::<f64>() / risks.with.len() as f64;
    format!(
        "\n{SHARED_BASE} risk check: {} risks; wall s with: {} (median {:.2}), without \
         (--risk-ignore all): {} (median {:.2}); finding them took {:.3} s in-process\n",
        risks.with[0].risks,
        walls(&risks.with),
        RiskRuns::median(&risks.with).as_secs_f64(),
        walls(&risks.without),
        RiskRuns::median(&risks.without).as_secs_f64(),
        in_process,
    )
}

/// The application scenario: one repository, the shared base changed, reported by directory
/// (`--applications off`) and by application, interleaved.
struct AppRuns {
    directory: Vec<ToolMeasurement>,
    applications: Vec<ToolMeasurement>,
    /// Applications the report renders, and those it lists as not deployed from the branch.
    rendered: usize,
    listed: usize,
}

impl AppRuns {
    fn ratio(&self) -> f64 {
        RiskRuns::median(&self.applications).as_secs_f64()
            / RiskRuns::median(&self.directory).as_secs_f64()
    }
}

fn measure_applications(dir: &Path, kustomize: &[String], jobs: usize) -> Result<AppRuns> {
    let apps_dir = dir.join("applications");
    fs::create_dir_all(&apps_dir).with_context(|| format!("creating {}", apps_dir.display()))?;
    let repo = apps_dir.join("repo");
    eprintln!(
        "bench: generating {APP_OVERLAYS} overlays and 3 ApplicationSets in {}",
        repo.display()
    );
    generate_repo(&repo, APP_OVERLAYS, true)?;
    let bench = Workspace {
        dir: apps_dir.clone(),
        repo,
        overlays: APP_OVERLAYS,
        wrapper: KustomizeWrapper::create(&apps_dir, kustomize)?,
    };
    let by_directory = shared_base(APP_OVERLAYS);
    // Two staging applications per overlay deploy from the compared branch.
    let by_application = Scenario {
        label: "(c) applications",
        head: by_directory.head,
        changed_overlays: 2 * APP_OVERLAYS,
        changed_roots: 2 * APP_OVERLAYS + 1,
    };
    let app_args = ["--repo-url", APP_REPO_URL, "--branch", BASE_REF];
    let mut runs = AppRuns {
        directory: Vec::new(),
        applications: Vec::new(),
        rendered: 0,
        listed: 0,
    };
    for _ in 0..RISK_RUNS {
        runs.directory.push(run_tool(
            &bench,
            &by_directory,
            jobs,
            &["--applications", "off"],
        )?);
        runs.applications
            .push(run_tool(&bench, &by_application, jobs, &app_args)?);
    }
    let report = read_tool_report(&bench.dir.join(format!("tool-{}.json", by_application.head)))?;
    runs.rendered = report.overlays.len();
    runs.listed = report
        .applications
        .as_ref()
        .map_or(0, |a| a.not_deployed.len());
    ensure!(
        runs.rendered + runs.listed == 3 * APP_OVERLAYS,
        "(c) applications: expected {} applications, the report has {} rendered and {} listed",
        3 * APP_OVERLAYS,
        runs.rendered,
        runs.listed
    );
    Ok(runs)
}

fn render_applications(apps: &AppRuns) -> String {
    format!(
        "\n(c) {APP_OVERLAYS} overlays, 3 ApplicationSets, {} applications ({} rendered, {} not \
         deployed from the branch), shared base changed: wall s by application: {} (median \
         {:.2}, {} kustomize runs), by directory: {} (median {:.2}, {} kustomize runs)\n",
        apps.rendered + apps.listed,
        apps.rendered,
        apps.listed,
        walls(&apps.applications),
        RiskRuns::median(&apps.applications).as_secs_f64(),
        apps.applications[0].measurement.kustomize_runs,
        walls(&apps.directory),
        RiskRuns::median(&apps.directory).as_secs_f64(),
        apps.directory[0].measurement.kustomize_runs,
    )
}

/// The shards a simulated matrix splits scenario (b) into.
const SHARDS: usize = 4;

/// Scenario (b) as CI could run it at scale: with the render cache and as a matrix of shards,
/// each against the naive full render of the same run.
struct ScaleRuns {
    naive: Measurement,
    uncached: Measurement,
    cold: ToolMeasurement,
    /// A push to the base branch rendering every overlay into the cache: not in the PR's time.
    warm_up: ToolMeasurement,
    warm: ToolMeasurement,
    /// One per shard, run one after the other as if each were its own matrix job, with the
    /// overlays it built.
    shards: Vec<(Timed, usize)>,
    merge: Timed,
}

impl ScaleRuns {
    /// What a matrix of the shards takes: its slowest job, then the job that merges.
    fn matrix(&self) -> Measurement {
        let slowest = self.shards.iter().map(|(t, _)| t.wall).max();
        Measurement {
            wall: slowest.unwrap_or_default() + self.merge.wall,
            kustomize_runs: self.shards.iter().map(|(t, _)| t.kustomize_runs).sum(),
            peak_rss_kb: 0,
        }
    }
}

/// Measures scenario (b) with a cold cache, with a warm one (which must build only the head
/// side) and as [`SHARDS`] shards joined by `merge-reports` (whose markdown must be the single
/// job's); `naive` and `uncached` are the same scenario's runs, measured before.
fn measure_scale(
    bench: &Workspace,
    jobs: usize,
    naive: Measurement,
    uncached: Measurement,
) -> Result<ScaleRuns> {
    let scenario = shared_base(bench.overlays);
    let cold_dir = cache_dir(bench, "cache-cold")?;
    let cold = run_tool(bench, &scenario, jobs, &["--cache", &cold_dir])?;

    let warm_dir = cache_dir(bench, "cache-warm")?;
    let push = Scenario {
        label: "(b) cache warm-up",
        head: BASE_REF,
        changed_overlays: 0,
        changed_roots: 0,
    };
    let warm_up = run_tool(bench, &push, jobs, &["--all", "--cache", &warm_dir])?;
    let warm = run_tool(bench, &scenario, jobs, &["--cache", &warm_dir])?;
    check_warm(&warm.stats, bench.overlays)?;

    let mut shards = Vec::new();
    let mut parts = Vec::new();
    for index in 1..=SHARDS {
        let part = bench.dir.join(format!("shard-{index}.json"));
        shards.push(run_shard(bench, &scenario, jobs, index, &part)?);
        parts.push(part);
    }
    let merged = bench.dir.join("merged.json");
    let merge = run_merge(bench, &parts, "json", &merged)?;
    check_tool_report(&read_tool_report(&merged)?, &scenario)?;
    check_merged_markdown(bench, &scenario, jobs, &parts)?;
    Ok(ScaleRuns {
        naive,
        uncached,
        cold,
        warm_up,
        warm,
        shards,
        merge,
    })
}

/// A cache directory that does not exist yet, as the argument of `--cache`.
fn cache_dir(bench: &Workspace, name: &str) -> Result<String> {
    let dir = bench.dir.join(name);
    ensure!(!dir.exists(), "{} is not a fresh cache", dir.display());
    dir.into_os_string()
        .into_string()
        .map_err(|dir| anyhow::anyhow!("{} is not UTF-8", dir.display()))
}

/// The criterion: with the base side cached by the push, a PR builds only its head side.
fn check_warm(stats: &ToolStats, overlays: usize) -> Result<()> {
    let hits = stats.cache.map_or(0, |c| c.hits);
    ensure!(
        stats.affected == overlays && stats.builds == stats.affected && hits == stats.affected,
        "{SHARED_BASE} warm cache: {} builds and {hits} cache hits for {} affected overlays \
         (expected {overlays} of each: only the head side built, the base side read back)",
        stats.builds,
        stats.affected,
    );
    Ok(())
}

/// `diff --shard INDEX/SHARDS` of the scenario without cache, its partial report in `part`,
/// timed; returns the time and how many overlays the shard built.
fn run_shard(
    bench: &Workspace,
    scenario: &Scenario,
    jobs: usize,
    index: usize,
    part: &Path,
) -> Result<(Timed, usize)> {
    let shard = format!("{index}/{SHARDS}");
    eprintln!(
        "bench: {} gitops-promote diff --shard {shard}",
        scenario.label
    );
    let mut command = diff_command(bench, scenario.head, jobs)?;
    command.args(["--shard", &shard, "--output"]).arg(part);
    let label = format!("{} shard {shard}", scenario.label);
    let timed = run_timed(bench, command, &part.with_extension("log"), &label)?;
    let bytes = fs::read(part).with_context(|| format!("reading {}", part.display()))?;
    let partial =
        Partial::from_json(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", part.display()))?;
    let overlays = partial.owners.iter().filter(|&&o| o == index).count();
    Ok((timed, overlays))
}

/// `merge-reports PARTS --format FORMAT --output OUTPUT`, timed.
fn run_merge(bench: &Workspace, parts: &[PathBuf], format: &str, output: &Path) -> Result<Timed> {
    eprintln!("bench: {SHARED_BASE} gitops-promote merge-reports --format {format}");
    let mut command = Command::new(product_binary()?);
    command
        .arg("merge-reports")
        .args(parts)
        .args(["--format", format, "--quiet", "--output"])
        .arg(output);
    let log = output.with_extension("log");
    run_timed(
        bench,
        command,
        &log,
        &format!("{SHARED_BASE} merge-reports"),
    )
}

/// Joined shards must say what one job says: their markdown is the single job's, byte for byte.
fn check_merged_markdown(
    bench: &Workspace,
    scenario: &Scenario,
    jobs: usize,
    parts: &[PathBuf],
) -> Result<()> {
    let merged = bench.dir.join("merged.md");
    run_merge(bench, parts, "markdown", &merged)?;
    eprintln!(
        "bench: {} gitops-promote diff --format markdown",
        scenario.label
    );
    let single = bench.dir.join("single.md");
    let mut command = diff_command(bench, scenario.head, jobs)?;
    command
        .args(["--format", "markdown", "--output"])
        .arg(&single);
    run_timed(
        bench,
        command,
        &single.with_extension("log"),
        scenario.label,
    )?;
    let read = |path: &Path| fs::read(path).with_context(|| format!("reading {}", path.display()));
    ensure!(
        read(&merged)? == read(&single)?,
        "{}: the merged shards' markdown differs from the single job's (see diff {} {})",
        scenario.label,
        single.display(),
        merged.display()
    );
    Ok(())
}

fn render_scale(scale: &ScaleRuns) -> String {
    let naive = scale.naive.wall.as_secs_f64();
    let matrix = scale.matrix();
    let shards_case = format!("{SHARDS} shards (matrix)");
    let rows = [
        ("naive full render", scale.naive),
        ("gitops-promote", scale.uncached),
        ("cold cache", scale.cold.measurement),
        ("warm cache", scale.warm.measurement),
        (shards_case.as_str(), matrix),
    ];
    let mut out = format!(
        "\n{SHARED_BASE}, cache and shards\n{:<18}  {:>8}  {:>14}  {:>8}\n",
        "case", "wall s", "kustomize runs", "speed-up"
    );
    for (case, m) in rows {
        let _ = writeln!(
            out,
            "{case:<18}  {:>8.2}  {:>14}  {:>7.2}x",
            m.wall.as_secs_f64(),
            m.kustomize_runs,
            naive / m.wall.as_secs_f64(),
        );
    }
    let written = |run: &ToolMeasurement| run.stats.cache.map_or(0, |c| c.written);
    let _ = writeln!(
        out,
        "speed-up: naive wall / the case's wall.\n\
         cold cache: an empty --cache dir; {} entries written.\n\
         warm-up, as a push to {BASE_REF} would (diff --base {BASE_REF} --head {BASE_REF} --all \
         --cache), not in the PR's time: {:.2} s, {} builds, {} entries written.\n\
         warm cache: the PR with that cache: {} builds (only the head side), {} cache hits, {} \
         affected overlays.",
        written(&scale.cold),
        scale.warm_up.measurement.wall.as_secs_f64(),
        scale.warm_up.stats.builds,
        written(&scale.warm_up),
        scale.warm.stats.builds,
        scale.warm.stats.cache.map_or(0, |c| c.hits),
        scale.warm.stats.affected,
    );
    let shards: Vec<String> = scale
        .shards
        .iter()
        .enumerate()
        .map(|(i, (t, overlays))| {
            format!(
                "{}/{SHARDS} {:.2} s ({overlays} overlays)",
                i + 1,
                t.wall.as_secs_f64()
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "{SHARDS} shards, one after the other, each as its own matrix job would run: {}.\n\
         merge-reports {:.2} s; matrix wall = slowest shard + merge = {:.2} s; the merged \
         markdown is the single job's, byte for byte.",
        shards.join(", "),
        scale.merge.wall.as_secs_f64(),
        matrix.wall.as_secs_f64(),
    );
    out
}

fn render_verdicts(naive: &Baselines, tool: &ToolRuns, risks: &RiskRuns, apps: &AppRuns) -> String {
    let speedup = naive.naive_one.wall.as_secs_f64() / tool.one.measurement.wall.as_secs_f64();
    let bare_ratio = tool.base.measurement.wall.as_secs_f64() / naive.bare_base.wall.as_secs_f64();
    let own_peak = mb(tool
        .one
        .measurement
        .peak_rss_kb
        .max(tool.base.measurement.peak_rss_kb));
    let verdicts = [
        (
            "(a) naive / tool wall time",
            format!("{speedup:.1}x"),
            format!(">= {TARGET_SPEEDUP}x"),
            speedup >= TARGET_SPEEDUP,
        ),
        (
            "(b) tool / bare builds wall time",
            format!("{bare_ratio:.2}x"),
            format!("<= {TARGET_BARE_RATIO}x"),
            bare_ratio <= TARGET_BARE_RATIO,
        ),
        (
            "tool's own peak memory",
            format!("{own_peak:.1} MB"),
            format!("< {TARGET_OWN_PEAK_MB} MB"),
            own_peak < TARGET_OWN_PEAK_MB,
        ),
        (
            "(b) with / without risk check",
            format!("{:.3}x", risks.overhead()),
            format!("<= {TARGET_RISK_OVERHEAD}x"),
            risks.overhead() <= TARGET_RISK_OVERHEAD,
        ),
        (
            "(c) by application / by directory",
            format!("{:.2}x", apps.ratio()),
            format!("< {TARGET_APPS_RATIO}x"),
            apps.ratio() < TARGET_APPS_RATIO,
        ),
    ];
    let mut out = String::from("\n");
    for (what, value, target, pass) in verdicts {
        let verdict = if pass { "PASS" } else { "MISS" };
        let _ = writeln!(out, "{what:<32}  {value:>9}  target {target:<9}  {verdict}");
    }
    out
}

/// Builds the gitops-promote binary with this task's profile, so the benchmark measures what a
/// release ships (with `--release`) and never a stale build.
fn build_product() -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["build", "--quiet", "--locked", "--bin", "gitops-promote"]);
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    let status = command
        .status()
        .context("running cargo to build gitops-promote")?;
    ensure!(
        status.success(),
        "building gitops-promote failed ({status})"
    );
    Ok(())
}

/// The binary `build_product` made: beside this task's own, in the same profile directory.
fn product_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let product = exe.with_file_name("gitops-promote");
    ensure!(
        product.is_file(),
        "{} is missing; build it with `cargo build --release`",
        product.display()
    );
    Ok(product)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Generator and naive half for real; `GITOPS_PROMOTE_BENCH_OVERLAYS=300` gives the full-size
    /// baselines (with `--nocapture` to see them).
    #[test]
    fn naive_half_builds_every_root_at_both_refs() -> Result<()> {
        let Ok(kustomize) = resolve_kustomize(None) else {
            eprintln!("skipped: neither kustomize nor kubectl is on PATH");
            return Ok(());
        };
        let overlays =
            std::env::var("GITOPS_PROMOTE_BENCH_OVERLAYS").map_or(Ok(5), |n| n.parse())?;
        let temp = tempfile::tempdir()?;
        let bench = Workspace::create(temp.path(), overlays, &kustomize)?;
        let jobs = thread::available_parallelism().map_or(1, |n| n.get());

        let naive = measure_baselines(&bench, jobs)?;

        // bases/common, bases/app and every overlay, at both refs; the component is not a root.
        assert_eq!(naive.naive_one.kustomize_runs, 2 * (overlays + 2));
        assert_eq!(naive.naive_base.kustomize_runs, 2 * (overlays + 2));
        assert_eq!(naive.bare_base.kustomize_runs, 2 * overlays);
        assert!(naive.naive_one.peak_rss_kb > 0);
        eprintln!(
            "cores: {jobs}, kustomize: {}{}",
            kustomize.join(" "),
            render_table(&naive, None)
        );
        Ok(())
    }

    #[test]
    fn overlays_with_even_index_use_the_component() {
        assert!(overlay_kustomization(2, "1.2.0").contains("../../components/monitoring"));
        assert!(!overlay_kustomization(3, "1.3.0").contains("components:"));
    }

    #[test]
    fn bare_kustomize_gets_its_build_subcommand() -> Result<()> {
        assert_eq!(
            resolve_kustomize(Some("kustomize"))?,
            ["kustomize", "build"]
        );
        assert_eq!(
            resolve_kustomize(Some("kubectl kustomize"))?,
            ["kubectl", "kustomize"]
        );
        assert!(resolve_kustomize(Some("  ")).is_err());
        Ok(())
    }

    #[test]
    fn a_warm_cache_must_read_the_base_side_back() {
        let stats = |builds, cache: Option<(usize, usize)>| ToolStats {
            affected: 3,
            builds,
            cache: cache.map(|(hits, written)| ToolCacheStats { hits, written }),
            ..ToolStats::default()
        };
        assert!(check_warm(&stats(3, Some((3, 3))), 3).is_ok());
        // Both sides built, the base side built anyway, or no cache at all.
        assert!(check_warm(&stats(6, Some((0, 6))), 3).is_err());
        assert!(check_warm(&stats(3, Some((0, 3))), 3).is_err());
        assert!(check_warm(&stats(3, None), 3).is_err());
        // Fewer affected overlays than the shared base has is a wrong plan, not a fast one.
        assert!(check_warm(&stats(3, Some((3, 3))), 4).is_err());
    }

    #[test]
    fn a_wrong_count_of_changed_overlays_fails() {
        let report = ToolReport {
            stats: ToolStats {
                peak_rss_kb: 1,
                ..ToolStats::default()
            },
            applications: None,
            overlays: vec![
                ToolOverlay {
                    path: "overlays/team-001".into(),
                    status: "changed".into(),
                    risks: Vec::new(),
                },
                ToolOverlay {
                    path: "overlays/team-002".into(),
                    status: "changed".into(),
                    risks: Vec::new(),
                },
            ],
        };
        assert!(check_tool_report(&report, &one_overlay()).is_err());
        assert!(check_tool_report(&report, &shared_base(2)).is_ok());
    }
}
