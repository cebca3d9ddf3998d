//! Builds the small GitOps repository that `gitops-promote demo` diffs, so the whole flow runs offline.
//! Two branches of kustomize bases and overlays, written with git2 from in-memory files so the commit ids never change.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, ensure};
use git2::build::CheckoutBuilder;
use git2::{
    Commit, Index, IndexEntry, IndexTime, Oid, Repository, RepositoryInitOptions, Signature, Time,
};

/// Branch names the demo repository carries.
pub(crate) const DEMO_BASE: &str = "master";
/// The branch Argo CD deploys to staging; it is one release ahead of [`DEMO_BASE`].
pub(crate) const DEMO_HEAD: &str = "develop";

/// A fixed identity and clock, so two runs produce byte-identical commits and the README can quote ids.
const AUTHOR_NAME: &str = "Demo";
const AUTHOR_EMAIL: &str = "demo@example.com";
/// Central European time, where the fictional team works; only the commit header shows it.
const UTC_OFFSET_MINUTES: i32 = 60;

/// What differs between the two branches; everything else in the tree is shared, so the demo's diff
/// shows exactly these changes and nothing incidental.
struct Release {
    image_tag: &'static str,
    production_replicas: u32,
    log_level: &'static str,
    db_password: &'static str,
    production_pdb: bool,
    message: &'static str,
    /// Seconds since the Unix epoch.
    committed_at: i64,
}

/// What production runs today.
const MASTER: Release = Release {
    image_tag: "1.4.2",
    production_replicas: 3,
    log_level: "info",
    db_password: "demo-db-password-2024-q4",
    production_pdb: false,
    message: "Add web with staging and production overlays

Base Deployment, Service and Ingress for web 1.4.2, configured from the
web-config ConfigMap and the web-secrets Secret. Staging runs one
replica with FEATURE_X on; production runs three.
",
    // 2025-03-03 09:12 +01:00
    committed_at: 1_740_989_520,
};

/// The release waiting on `develop` for promotion: one change of each kind a reviewer meets.
const DEVELOP: Release = Release {
    image_tag: "1.5.0",
    production_replicas: 4,
    log_level: "debug",
    db_password: "demo-db-password-2025-q1",
    production_pdb: true,
    message: "Release web 1.5.0

- images: ghcr.io/acme/web 1.4.2 -> 1.5.0 in staging and production
- production: 4 replicas and a PodDisruptionBudget that keeps all four up
  through the launch
- config: LOG_LEVEL=debug while we watch the new checkout path
- secrets: rotate DB_PASSWORD
",
    // 2025-03-05 16:40 +01:00
    committed_at: 1_741_189_200,
};

/// Creates a small, realistic GitOps repository in `dir` (which exists and is empty) with branches
/// `master` and `develop`, using git2 only (no `git` CLI, no network).
///
/// `develop` is `master` plus one release commit; HEAD points at `develop` and its files are checked
/// out, so someone who `cd`s there can read and rebuild what the demo diffs.
pub(crate) fn create_demo_repo(dir: &Path) -> Result<()> {
    // Refusing a non-empty directory keeps a mistyped path from turning someone's project into a demo.
    let is_empty = dir
        .read_dir()
        .with_context(|| format!("reading the demo directory {}", dir.display()))?
        .next()
        .is_none();
    ensure!(
        is_empty,
        "the demo directory {} is not empty; the demo only writes into an empty directory",
        dir.display()
    );

    let repo = Repository::init_opts(
        dir,
        RepositoryInitOptions::new()
            .initial_head(DEMO_HEAD)
            // The user's git templates (hooks, excludes) have no place in a reproducible demo.
            .external_template(false),
    )
    .with_context(|| format!("creating a git repository in {}", dir.display()))?;

    let master = commit_release(&repo, &MASTER, &[]).context("writing the first demo commit")?;
    let develop = commit_release(&repo, &DEVELOP, &[&master])
        .context("writing the release commit of the demo")?;

    repo.branch(DEMO_BASE, &master, false)
        .with_context(|| format!("creating branch {DEMO_BASE}"))?;
    repo.branch(DEMO_HEAD, &develop, false)
        .with_context(|| format!("creating branch {DEMO_HEAD}"))?;
    repo.set_head(&format!("refs/heads/{DEMO_HEAD}"))
        .with_context(|| format!("pointing HEAD at {DEMO_HEAD}"))?;
    // The index and work tree are still empty, so force is what makes checkout write every file.
    repo.checkout_head(Some(CheckoutBuilder::new().force()))
        .with_context(|| format!("checking out {DEMO_HEAD} in {}", dir.display()))?;
    Ok(())
}

/// Writes the tree for `release` and a commit on top of `parents`; branches are pointed at it later.
fn commit_release<'r>(
    repo: &'r Repository,
    release: &Release,
    parents: &[&Commit<'_>],
) -> Result<Commit<'r>> {
    let tree_id = write_tree(repo, &repo_files(release))?;
    let tree = repo.find_tree(tree_id)?;
    let signature = Signature::new(
        AUTHOR_NAME,
        AUTHOR_EMAIL,
        &Time::new(release.committed_at, UTC_OFFSET_MINUTES),
    )?;
    let id = repo.commit(
        None,
        &signature,
        &signature,
        release.message,
        &tree,
        parents,
    )?;
    Ok(repo.find_commit(id)?)
}

/// Stores the files as blobs and assembles the nested trees through an in-memory index, which builds
/// the intermediate directories that a hand-driven `TreeBuilder` would need one by one.
fn write_tree(repo: &Repository, files: &BTreeMap<&'static str, String>) -> Result<Oid> {
    let mut index = Index::new()?;
    for (path, contents) in files {
        let id = repo
            .blob(contents.as_bytes())
            .with_context(|| format!("storing {path}"))?;
        let entry = IndexEntry {
            ctime: IndexTime::new(0, 0),
            mtime: IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode: 0o100_644,
            uid: 0,
            gid: 0,
            file_size: u32::try_from(contents.len())?,
            id,
            flags: 0,
            flags_extended: 0,
            path: path.as_bytes().to_vec(),
        };
        index
            .add(&entry)
            .with_context(|| format!("adding {path} to the demo tree"))?;
    }
    Ok(index.write_tree_to(repo)?)
}

/// Every file of the repository at `release`, keyed by its path with `/` separators.
fn repo_files(release: &Release) -> BTreeMap<&'static str, String> {
    let Release {
        image_tag,
        production_replicas,
        log_level,
        db_password,
        production_pdb,
        ..
    } = release;
    let mut files = BTreeMap::new();

    files.insert("README.md", README.to_owned());

    files.insert(
        "base/kustomization.yaml",
        format!(
            "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization

labels:
  - pairs:
      app.kubernetes.io/name: web
    includeSelectors: true

resources:
  - deployment.yaml
  - service.yaml
  - ingress.yaml

configMapGenerator:
  - name: web-config
    literals:
      - LOG_LEVEL={log_level}
      - FEATURE_X=false

secretGenerator:
  - name: web-secrets
    envs:
      - secrets.env
"
        ),
    );
    files.insert(
        "base/secrets.env",
        format!(
            "\
# Fake values for the gitops-promote demo. A real repository keeps secrets out of git
# (SOPS, Sealed Secrets, External Secrets); the demo shows that diffs redact them anyway.
DB_PASSWORD={db_password}
API_KEY=demo-api-key-not-a-real-key
"
        ),
    );
    files.insert("base/deployment.yaml", BASE_DEPLOYMENT.to_owned());
    files.insert("base/service.yaml", BASE_SERVICE.to_owned());
    files.insert("base/ingress.yaml", BASE_INGRESS.to_owned());

    // Staging follows develop as soon as it merges, so it carries the new tag but keeps one replica.
    files.insert(
        "overlays/staging/kustomization.yaml",
        overlay_kustomization("staging", image_tag, false, "FEATURE_X=true"),
    );
    files.insert("overlays/staging/replicas.yaml", replicas_patch(1));

    files.insert(
        "overlays/production/kustomization.yaml",
        overlay_kustomization("production", image_tag, *production_pdb, ""),
    );
    files.insert(
        "overlays/production/replicas.yaml",
        replicas_patch(*production_replicas),
    );
    if *production_pdb {
        files.insert("overlays/production/pdb.yaml", PRODUCTION_PDB.to_owned());
    }
    // The seed flow: Argo CD deploys staging from develop and production from master.
    files.insert(
        "argocd/web-staging.yaml",
        application("web-staging", "overlays/staging", DEMO_HEAD, "web-staging"),
    );
    files.insert(
        "argocd/web-production.yaml",
        application(
            "web-production",
            "overlays/production",
            DEMO_BASE,
            "web-production",
        ),
    );
    files
}

/// Where the demo repository says it lives; its Applications deploy from this URL.
pub(crate) const DEMO_REPO_URL: &str = "https://github.com/acme/gitops-demo.git";

/// An Argo CD Application deploying `path` from `branch` of the demo repository.
fn application(name: &str, path: &str, branch: &str, namespace: &str) -> String {
    format!(
        "\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}
  namespace: argocd
  finalizers:
    - resources-finalizer.argocd.argoproj.io
spec:
  project: default
  source:
    repoURL: {DEMO_REPO_URL}
    targetRevision: {branch}
    path: {path}
  destination:
    server: https://kubernetes.default.svc
    namespace: {namespace}
  syncPolicy:
    automated:
      prune: true
      selfHeal: true
"
    )
}

/// The overlays differ only in name, host, extra resources and config literals, so one template keeps
/// them from drifting apart in ways the demo does not mean to show.
fn overlay_kustomization(
    environment: &str,
    image_tag: &str,
    with_pdb: bool,
    extra_literal: &str,
) -> String {
    let pdb = if with_pdb { "  - pdb.yaml\n" } else { "" };
    let extra_literal = if extra_literal.is_empty() {
        String::new()
    } else {
        format!("      - {extra_literal}\n")
    };
    format!(
        "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization

namespace: web-{environment}

resources:
  - ../../base
{pdb}
images:
  - name: ghcr.io/acme/web
    newTag: \"{image_tag}\"

patches:
  - path: replicas.yaml
  - target:
      group: networking.k8s.io
      kind: Ingress
      name: web
    patch: |-
      - op: replace
        path: /spec/rules/0/host
        value: web.{environment}.acme.example
      - op: replace
        path: /spec/tls/0/hosts/0
        value: web.{environment}.acme.example

configMapGenerator:
  - name: web-config
    behavior: merge
    literals:
      - ENVIRONMENT={environment}
{extra_literal}"
    )
}

fn replicas_patch(replicas: u32) -> String {
    format!(
        "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {replicas}
"
    )
}

const README: &str = "\
# acme web: GitOps repository (gitops-promote demo)

Argo CD deploys `develop` to staging (`overlays/staging`) and `master` to production
(`overlays/production`). `develop` carries the web 1.5.0 release that is waiting for promotion.

    kubectl kustomize overlays/production
    gitops-promote diff --base master --head develop
";

const BASE_DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: web
  template:
    metadata:
      labels:
        app.kubernetes.io/name: web
    spec:
      containers:
        - name: web
          image: ghcr.io/acme/web:1.4.2
          ports:
            - name: http
              containerPort: 8080
          envFrom:
            - configMapRef:
                name: web-config
          env:
            - name: DB_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: web-secrets
                  key: DB_PASSWORD
          volumeMounts:
            - name: secrets
              mountPath: /etc/web/secrets
              readOnly: true
          readinessProbe:
            httpGet:
              path: /healthz
              port: http
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
            limits:
              memory: 256Mi
      volumes:
        - name: secrets
          secret:
            secretName: web-secrets
";

const BASE_SERVICE: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app.kubernetes.io/name: web
  ports:
    - name: http
      port: 80
      targetPort: http
";

const BASE_INGRESS: &str = "\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  annotations:
    cert-manager.io/cluster-issuer: letsencrypt
spec:
  ingressClassName: nginx
  tls:
    - hosts:
        - web.acme.example
      secretName: web-tls
  rules:
    - host: web.acme.example
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: web
                port:
                  name: http
";

const PRODUCTION_PDB: &str = "\
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  minAvailable: 4
  selector:
    matchLabels:
      app.kubernetes.io/name: web
";

/// The promotion `gitops-promote demo` shows: the head branch's last commit, as if it were the
/// merged PR #1, cherry-picked onto the base branch. Offline; nothing is written but objects.
pub(crate) fn promotion_preview(
    repo_dir: &std::path::Path,
    source: &str,
    target: &str,
) -> anyhow::Result<String> {
    use crate::git::Repo;
    use crate::git::pick::{PickOptions, PickOutcome};
    use crate::promote::plan::{MergeKind, PickSummary, SourcePr};
    use crate::promote::settings::PromotionSettings;
    let repo = Repo::open(repo_dir)?;
    let commit = repo.resolve(source)?;
    let onto = repo.resolve(target)?;
    let git = repo.git2();
    let git_commit = git.find_commit(commit)?;
    let summary = git_commit
        .summary()
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_string();
    let author = git_commit
        .author()
        .name()
        .ok()
        .unwrap_or("someone")
        .to_string();
    let settings = PromotionSettings::new(source, target);
    let outcome = repo.cherry_pick(
        &[commit],
        onto,
        &PickOptions {
            committer: &settings.committer,
            exclude: &globset::GlobSet::empty(),
            target_name: Some(target),
        },
    )?;
    let pick = match outcome {
        PickOutcome::Picked { tip, .. } => PickSummary::Clean {
            files: repo.snapshot(onto)?.changed_paths(&repo.snapshot(tip)?),
        },
        PickOutcome::Conflict { conflicted, .. } => PickSummary::Conflict { files: conflicted },
        PickOutcome::Nothing { .. } => {
            return Ok(format!("{target} already has {source}'s change\n"));
        }
    };
    let source_pr = SourcePr {
        number: 1,
        title: summary.clone(),
        url: "https://github.com/acme/manifests/pull/1".to_string(),
        author,
        labels: Vec::new(),
        commits: vec![(commit.to_string(), summary)],
        merge_kind: MergeKind::Squash,
    };
    Ok(settings.templates.plan(&source_pr, &pick, &[]).to_text())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::process::Command;

    use super::*;

    fn demo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        create_demo_repo(dir.path()).unwrap();
        dir
    }

    fn tip(repo: &Repository, branch: &str) -> Oid {
        repo.find_branch(branch, git2::BranchType::Local)
            .unwrap()
            .get()
            .peel_to_commit()
            .unwrap()
            .id()
    }

    fn on_path(program: &str) -> bool {
        Command::new(program).arg("version").output().is_ok()
    }

    fn run(command: &mut Command) -> String {
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    #[test]
    fn develop_is_master_plus_one_release_commit() {
        let dir = demo();
        let repo = Repository::open(dir.path()).unwrap();
        let master = tip(&repo, DEMO_BASE);
        let develop = repo.find_commit(tip(&repo, DEMO_HEAD)).unwrap();
        assert_eq!(develop.parent_ids().collect::<Vec<_>>(), vec![master]);
        assert_eq!(develop.summary().unwrap(), Some("Release web 1.5.0"));

        let old = repo.find_commit(master).unwrap().tree().unwrap();
        let new = develop.tree().unwrap();
        let diff = repo
            .diff_tree_to_tree(Some(&old), Some(&new), None)
            .unwrap();
        let changed: Vec<_> = diff
            .deltas()
            .map(|delta| {
                delta
                    .new_file()
                    .path()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(
            changed,
            [
                "base/kustomization.yaml",
                "base/secrets.env",
                "overlays/production/kustomization.yaml",
                "overlays/production/pdb.yaml",
                "overlays/production/replicas.yaml",
                "overlays/staging/kustomization.yaml",
            ]
        );
    }

    #[test]
    fn head_is_develop_and_checked_out() {
        let dir = demo();
        let repo = Repository::open(dir.path()).unwrap();
        assert_eq!(repo.head().unwrap().name().unwrap(), "refs/heads/develop");
        assert!(dir.path().join("overlays/production/pdb.yaml").is_file());
        let statuses = repo.statuses(None).unwrap();
        assert!(statuses.is_empty(), "work tree differs from HEAD");
    }

    #[test]
    fn commit_ids_are_reproducible() {
        let (first, second) = (demo(), demo());
        let first = Repository::open(first.path()).unwrap();
        let second = Repository::open(second.path()).unwrap();
        for branch in [DEMO_BASE, DEMO_HEAD] {
            assert_eq!(tip(&first, branch), tip(&second, branch), "{branch}");
        }
    }

    #[test]
    fn refuses_a_directory_that_is_not_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "keep me").unwrap();
        let error = create_demo_repo(dir.path()).unwrap_err();
        assert!(error.to_string().contains("not empty"), "{error:#}");
    }

    /// The demo is only worth showing if real kustomize builds both overlays on both branches and the
    /// rendered output carries each intended change; `git` exports the trees so git2 is not checking itself.
    #[test]
    fn overlays_build_with_kubectl_kustomize_on_both_branches() {
        if !on_path("git") || !on_path("kubectl") {
            eprintln!("skipping: git or kubectl is not on PATH");
            return;
        }
        let dir = demo();
        let exports = tempfile::tempdir().unwrap();
        let mut rendered = BTreeMap::new();
        for branch in [DEMO_BASE, DEMO_HEAD] {
            let tree: PathBuf = exports.path().join(branch);
            std::fs::create_dir(&tree).unwrap();
            let archive = run(Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args(["archive", "--format=tar", "-o"])
                .arg(exports.path().join(format!("{branch}.tar")))
                .arg(branch));
            assert!(archive.is_empty());
            run(Command::new("tar")
                .arg("-xf")
                .arg(exports.path().join(format!("{branch}.tar")))
                .arg("-C")
                .arg(&tree));
            for overlay in ["staging", "production"] {
                let yaml = run(Command::new("kubectl")
                    .arg("kustomize")
                    .arg(tree.join("overlays").join(overlay)));
                rendered.insert((branch, overlay), yaml);
            }
        }

        let master_production = &rendered[&(DEMO_BASE, "production")];
        let develop_production = &rendered[&(DEMO_HEAD, "production")];
        let master_staging = &rendered[&(DEMO_BASE, "staging")];
        let develop_staging = &rendered[&(DEMO_HEAD, "staging")];

        for yaml in [master_production, master_staging] {
            assert!(yaml.contains("image: ghcr.io/acme/web:1.4.2"), "{yaml}");
            assert!(yaml.contains("LOG_LEVEL: info"), "{yaml}");
        }
        for yaml in [develop_production, develop_staging] {
            assert!(yaml.contains("image: ghcr.io/acme/web:1.5.0"), "{yaml}");
            assert!(yaml.contains("LOG_LEVEL: debug"), "{yaml}");
        }
        assert!(master_production.contains("replicas: 3"));
        assert!(develop_production.contains("replicas: 4"));
        assert!(!master_production.contains("kind: PodDisruptionBudget"));
        assert!(develop_production.contains("kind: PodDisruptionBudget"));
        assert!(master_production.contains("namespace: web-production"));
        assert!(master_staging.contains("namespace: web-staging"));
        assert!(master_staging.contains("host: web.staging.acme.example"));
        assert!(master_production.contains("host: web.production.acme.example"));
        assert!(
            master_staging.contains("FEATURE_X: \"true\""),
            "{master_staging}"
        );

        // The rotated password changes the Secret's data and therefore its generated name.
        let secret_line = |yaml: &str| {
            yaml.lines()
                .find(|line| line.trim_start().starts_with("DB_PASSWORD: "))
                .map(str::to_owned)
        };
        assert_ne!(
            secret_line(master_production),
            secret_line(develop_production)
        );
        assert_ne!(
            secret_name(master_production),
            secret_name(develop_production)
        );
    }

    fn secret_name(yaml: &str) -> String {
        yaml.lines()
            .find_map(|line| line.trim().strip_prefix("name: web-secrets-"))
            .unwrap()
            .to_owned()
    }
}
