use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::glob::{path_match, pathspec_match};
use super::{RepoFiles, expand};

const THIS: &str = "https://github.com/example/deploy.git";

#[derive(Default)]
struct Mem {
    files: BTreeMap<String, String>,
}

impl Mem {
    fn new(files: &[(&str, &str)]) -> Self {
        Mem {
            files: files
                .iter()
                .map(|(p, c)| (p.to_string(), c.to_string()))
                .collect(),
        }
    }
}

impl RepoFiles for Mem {
    fn directories(&self) -> Vec<String> {
        let mut dirs = std::collections::BTreeSet::new();
        for f in self.files.keys() {
            let mut d = f.as_str();
            while let Some(i) = d.rfind('/') {
                d = &d[..i];
                dirs.insert(d.to_string());
            }
        }
        dirs.into_iter().collect()
    }
    fn files(&self) -> Vec<String> {
        self.files.keys().cloned().collect()
    }
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        self.files.get(path).map(|c| c.as_bytes().to_vec())
    }
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap()
}

fn names(apps: &[Value]) -> Vec<String> {
    apps.iter()
        .map(|a| a["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn list_generator_cluster_addons_fasttemplate() {
    let appset = yaml(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: guestbook
  namespace: argocd
spec:
  generators:
  - list:
      elements:
      - cluster: engineering-dev
        url: https://1.2.3.4
      - cluster: engineering-prod
        url: https://2.4.6.8
        values:
          suffix: p
  template:
    metadata:
      name: '{{cluster}}-guestbook'
      labels:
        '{{ cluster }}': 'yes'
    spec:
      project: "my-project"
      source:
        repoURL: https://github.com/example/deploy.git
        targetRevision: HEAD
        path: guestbook/{{ cluster }}{{values.suffix}}
      destination:
        server: '{{url}}'
        namespace: '{{unknown}}'
"#,
    );
    let out = expand(&appset, THIS, &Mem::default()).unwrap();
    assert_eq!(out.name, "guestbook");
    assert!(out.skipped.is_empty());
    assert_eq!(
        names(&out.applications),
        ["engineering-dev-guestbook", "engineering-prod-guestbook"]
    );
    let dev = &out.applications[0];
    assert_eq!(dev["kind"], "Application");
    assert_eq!(dev["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(dev["metadata"]["namespace"], "argocd");
    assert_eq!(dev["metadata"]["labels"]["engineering-dev"], "yes");
    // An unknown parameter, and one only the other element has, stay as written.
    assert_eq!(
        dev["spec"]["source"]["path"],
        "guestbook/engineering-dev{{values.suffix}}"
    );
    assert_eq!(dev["spec"]["destination"]["namespace"], "{{unknown}}");
    assert_eq!(dev["spec"]["destination"]["server"], "https://1.2.3.4");
    assert_eq!(
        out.applications[1]["spec"]["source"]["path"],
        "guestbook/engineering-prodp"
    );
}

#[test]
fn list_elements_yaml_and_go_template_functions() {
    let appset = yaml(
        r#"
metadata:
  name: addons
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
  - list:
      elementsYaml: |
        - cluster: Engineering_Dev
          tier: dev
        - cluster: engineering-prod
          tier: prod
          replicas: 3
  template:
    metadata:
      name: '{{ .cluster | lower | replace "_" "-" }}-{{ trunc 3 .tier }}'
    spec:
      project: '{{ default "default" .project | upper }}'
      source:
        repoURL: https://github.com/example/deploy.git
        path: 'addons/{{ .tier }}'
        helm:
          values: '{{ toJson (dict "tier" .tier) }} {{ quote .tier }} {{ if eq .tier "prod" }}{{ .replicas }}{{ end }}'
      destination:
        namespace: '{{ index (splitList "-" "a-b") 1 }}'
"#,
    );
    // missingkey=error fails on `.project`, which no element sets.
    let err = expand(&appset, THIS, &Mem::default()).unwrap_err();
    assert!(err.starts_with("ApplicationSet addons: "), "{err}");
    assert!(err.contains("missingkey=error"), "{err}");

    let mut appset = appset;
    appset["spec"]["goTemplateOptions"] = json!([]);
    let out = expand(&appset, THIS, &Mem::default()).unwrap();
    assert_eq!(
        names(&out.applications),
        ["engineering-dev-dev", "engineering-prod-pro"]
    );
    let prod = &out.applications[1]["spec"];
    assert_eq!(prod["project"], "DEFAULT");
    assert_eq!(
        prod["source"]["helm"]["values"],
        r#"{"tier":"prod"} "prod" 3"#
    );
    assert_eq!(prod["destination"]["namespace"], "b");
}

const ADDONS_REPO: &[(&str, &str)] = &[
    (
        "cluster-addons/argo-workflows/kustomization.yaml",
        "resources: []",
    ),
    ("cluster-addons/prometheus-operator/Chart.yaml", "name: p"),
    (
        "cluster-addons/exclude-helm-guestbook/Chart.yaml",
        "name: g",
    ),
    ("cluster-addons/nested/deeper/kustomization.yaml", ""),
    ("cluster-addons/.hidden/kustomization.yaml", ""),
    ("other/x.yaml", ""),
];

#[test]
fn git_directory_generator_with_exclude_fasttemplate() {
    let appset = yaml(
        r#"
metadata:
  name: cluster-addons
  namespace: argocd
spec:
  generators:
  - git:
      repoURL: git@github.com:example/deploy
      revision: HEAD
      directories:
      - path: cluster-addons/*
      - path: cluster-addons/exclude-helm-guestbook
        exclude: true
  template:
    metadata:
      name: '{{path.basename}}'
    spec:
      project: "my-project"
      source:
        repoURL: https://github.com/example/deploy.git
        targetRevision: HEAD
        path: '{{path}}'
      destination:
        server: https://kubernetes.default.svc
        namespace: '{{path[0]}}-{{path.basenameNormalized}}'
"#,
    );
    let out = expand(&appset, THIS, &Mem::new(ADDONS_REPO)).unwrap();
    // `*` does not cross `/` (nested/deeper is not matched, nested is); `.hidden` is never listed.
    assert_eq!(
        names(&out.applications),
        ["argo-workflows", "nested", "prometheus-operator"]
    );
    assert_eq!(
        out.applications[2]["spec"]["source"]["path"],
        "cluster-addons/prometheus-operator"
    );
    assert_eq!(
        out.applications[2]["spec"]["destination"]["namespace"],
        "cluster-addons-prometheus-operator"
    );
}

#[test]
fn git_directory_generator_go_template() {
    let appset = yaml(
        r#"
metadata:
  name: cluster-addons
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
  - git:
      repoURL: https://github.com/example/deploy.git
      revision: HEAD
      directories:
      - path: cluster-addons/*
      - path: cluster-addons/[en]*
        exclude: true
  template:
    metadata:
      name: '{{.path.basenameNormalized}}'
    spec:
      project: "my-project"
      source:
        repoURL: https://github.com/example/deploy.git
        targetRevision: HEAD
        path: '{{.path.path}}'
      destination:
        namespace: '{{index .path.segments 1}}'
"#,
    );
    let out = expand(&appset, THIS, &Mem::new(ADDONS_REPO)).unwrap();
    assert_eq!(
        names(&out.applications),
        ["argo-workflows", "prometheus-operator"]
    );
    assert_eq!(
        out.applications[0]["spec"]["source"]["path"],
        "cluster-addons/argo-workflows"
    );
    assert_eq!(
        out.applications[0]["spec"]["destination"]["namespace"],
        "argo-workflows"
    );
}

const CONFIG_REPO: &[(&str, &str)] = &[
    ("apps/guestbook/kustomization.yaml", ""),
    (
        "cluster-config/engineering/dev/config.json",
        r#"{"aws_account": "123456", "asset_id": 11223344, "cluster": {"owner": "cluster-admin@company.com", "name": "engineering-dev", "address": "https://1.2.3.4"}}"#,
    ),
    (
        "cluster-config/engineering/prod/config.json",
        "aws_account: 654321\ncluster:\n  name: engineering_prod\n  address: https://2.4.6.8\n",
    ),
    (
        "cluster-config/list/config.json",
        "- cluster: {name: a, address: https://a}\n- cluster: {name: b, address: https://b}\n",
    ),
];

#[test]
fn git_files_generator_fasttemplate() {
    let appset = yaml(
        r#"
metadata:
  name: guestbook
spec:
  generators:
  - git:
      repoURL: https://github.com/example/deploy.git
      revision: HEAD
      files:
      - path: "cluster-config/**/config.json"
      - path: "cluster-config/list/*"
        exclude: true
  template:
    metadata:
      name: '{{cluster.name}}-guestbook'
      annotations:
        account: '{{aws_account}}'
        asset: '{{asset_id}}'
        where: '{{path}} {{path.basename}} {{path.filename}} {{path[2]}} {{path.basenameNormalized}}'
    spec:
      project: default
      source:
        repoURL: https://github.com/example/deploy.git
        targetRevision: HEAD
        path: apps/guestbook
      destination:
        server: '{{cluster.address}}'
        namespace: guestbook
"#,
    );
    let out = expand(&appset, THIS, &Mem::new(CONFIG_REPO)).unwrap();
    assert_eq!(
        names(&out.applications),
        ["engineering-dev-guestbook", "engineering_prod-guestbook"]
    );
    let dev = &out.applications[0]["metadata"]["annotations"];
    assert_eq!(dev["account"], "123456");
    // Numbers are printed as Go prints a float64.
    assert_eq!(dev["asset"], "1.1223344e+07");
    assert_eq!(
        dev["where"],
        "cluster-config/engineering/dev dev config.json dev dev"
    );
    assert_eq!(
        out.applications[1]["spec"]["destination"]["server"],
        "https://2.4.6.8"
    );
}

#[test]
fn git_files_generator_list_file_go_template() {
    let appset = yaml(
        r#"
metadata:
  name: guestbook
spec:
  goTemplate: true
  generators:
  - git:
      repoURL: https://github.com/example/deploy.git
      revision: HEAD
      files:
      - path: "cluster-config/list/config.json"
      values:
        ns: 'gb-{{ .cluster.name }}'
  template:
    metadata:
      name: '{{.cluster.name}}-{{.path.basename}}'
    spec:
      project: default
      source:
        repoURL: https://github.com/example/deploy.git
        path: '{{.path.path}}/{{.path.filenameNormalized}}'
      destination:
        server: '{{.cluster.address}}'
        namespace: '{{.values.ns}}'
"#,
    );
    let out = expand(&appset, THIS, &Mem::new(CONFIG_REPO)).unwrap();
    assert_eq!(names(&out.applications), ["a-list", "b-list"]);
    assert_eq!(
        out.applications[1]["spec"]["source"]["path"],
        "cluster-config/list/config.json"
    );
    assert_eq!(
        out.applications[1]["spec"]["destination"]["namespace"],
        "gb-b"
    );
}

#[test]
fn matrix_git_directories_times_list() {
    let appset = yaml(
        r#"
metadata:
  name: cluster-git
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
  - matrix:
      generators:
      - git:
          repoURL: https://github.com/example/deploy.git
          revision: HEAD
          directories:
          - path: cluster-addons/*
          - path: cluster-addons/[en]*
            exclude: true
      - list:
          elements:
          - cluster: staging
            url: https://staging
          - cluster: prod
            url: https://prod
            only: '{{ .path.basename }}'
  template:
    metadata:
      name: '{{.path.basename}}-{{.cluster}}'
    spec:
      project: '{{ default "default" .only }}'
      source:
        repoURL: https://github.com/example/deploy.git
        targetRevision: HEAD
        path: '{{.path.path}}'
      destination:
        server: '{{.url}}'
        namespace: '{{.path.basename}}'
"#,
    );
    // `.only` is missing for staging elements: an error with missingkey=error.
    let err = expand(&appset, THIS, &Mem::new(ADDONS_REPO)).unwrap_err();
    assert!(
        err.starts_with("ApplicationSet cluster-git: generator 1 (matrix)"),
        "{err}"
    );

    let mut appset = appset;
    appset["spec"]["goTemplateOptions"] = json!([]);
    appset["spec"]["template"]["spec"]["project"] = json!("{{ .only | default \"default\" }}");
    let out = expand(&appset, THIS, &Mem::new(ADDONS_REPO)).unwrap();
    assert_eq!(
        names(&out.applications),
        [
            "argo-workflows-staging",
            "argo-workflows-prod",
            "prometheus-operator-staging",
            "prometheus-operator-prod"
        ]
    );
    // The second child was templated with the first child's parameters.
    assert_eq!(
        out.applications[3]["spec"]["project"],
        "prometheus-operator"
    );
    assert_eq!(out.applications[2]["spec"]["project"], "default");
    assert_eq!(
        out.applications[3]["spec"]["destination"]["server"],
        "https://prod"
    );
}

#[test]
fn matrix_fasttemplate_interpolates_second_child_and_selector_filters() {
    let appset = yaml(
        r#"
metadata:
  name: m
spec:
  generators:
  - matrix:
      generators:
      - list:
          elements:
          - env: dev
          - env: prod
      - git:
          repoURL: https://github.com/example/deploy.git
          revision: HEAD
          files:
          - path: "cluster-config/engineering/{{env}}/config.json"
    selector:
      matchExpressions:
      - key: env
        operator: NotIn
        values: [prod]
  template:
    metadata:
      name: '{{env}}-{{cluster.name}}'
    spec:
      project: default
"#,
    );
    let out = expand(&appset, THIS, &Mem::new(CONFIG_REPO)).unwrap();
    assert_eq!(names(&out.applications), ["dev-engineering-dev"]);
}

#[test]
fn merge_generator_overrides_base_by_keys() {
    let appset = yaml(
        r#"
metadata:
  name: cluster-git
spec:
  generators:
  - merge:
      mergeKeys: [server]
      generators:
      - list:
          elements:
          - server: https://a
            name: a
            kafka: 'true'
          - server: https://b
            name: b
            kafka: 'true'
      - list:
          elements:
          - server: https://b
            kafka: 'false'
          - server: https://c
            kafka: 'false'
  template:
    metadata:
      name: '{{name}}'
    spec:
      project: default
      source:
        helm:
          parameters:
          - name: kafka
            value: '{{kafka}}'
"#,
    );
    let out = expand(&appset, THIS, &Mem::default()).unwrap();
    assert_eq!(names(&out.applications), ["a", "b"]);
    let kafka =
        |i: usize| out.applications[i]["spec"]["source"]["helm"]["parameters"][0]["value"].clone();
    assert_eq!(kafka(0), "true");
    assert_eq!(kafka(1), "false");
}

#[test]
fn merge_generator_errors_on_non_unique_override() {
    let appset = yaml(
        r#"
metadata: {name: mm}
spec:
  generators:
  - merge:
      mergeKeys: [server]
      generators:
      - list: {elements: [{server: a}]}
      - list: {elements: [{server: a}, {server: a}]}
  template: {metadata: {name: '{{server}}'}, spec: {}}
"#,
    );
    let err = expand(&appset, THIS, &Mem::default()).unwrap_err();
    assert!(err.starts_with("ApplicationSet mm: "), "{err}");
    assert!(err.contains("not unique by mergeKeys"), "{err}");
}

#[test]
fn skipped_generators_and_other_repositories() {
    let appset = yaml(
        r#"
metadata:
  name: mixed
spec:
  generators:
  - pullRequest:
      github: {owner: example, repo: deploy}
  - clusters: {}
  - git:
      repoURL: https://github.com/example/other.git
      revision: HEAD
      directories: [{path: '*'}]
  - matrix:
      generators:
      - scmProvider: {github: {organization: example}}
      - list: {elements: [{x: y}]}
  - list:
      elements: [{name: kept}]
  template:
    metadata: {name: '{{name}}'}
    spec: {project: default}
"#,
    );
    let out = expand(&appset, THIS, &Mem::new(ADDONS_REPO)).unwrap();
    assert_eq!(names(&out.applications), ["kept"]);
    assert_eq!(
        out.skipped,
        [
            "pullRequest generator: needs the Git provider's API; skipped",
            "clusters generator: needs the Argo CD cluster secrets; skipped",
            "git generator: repoURL https://github.com/example/other.git is another repository; skipped",
            "scmProvider generator: needs the Git provider's API; skipped",
            "matrix generator: a child generator was skipped; skipped whole",
        ]
    );
}

#[test]
fn generator_template_overrides_and_template_patch() {
    let appset = yaml(
        r#"
metadata:
  name: patched
spec:
  goTemplate: true
  generators:
  - list:
      elements:
      - name: a
        autoSync: true
      - name: b
        autoSync: false
      template:
        metadata: {}
        spec:
          project: special
  template:
    metadata:
      name: '{{.name}}'
    spec:
      project: default
      source:
        repoURL: https://github.com/example/deploy.git
        path: 'apps/{{.name}}'
  templatePatch: |
    {{- if .autoSync }}
    spec:
      syncPolicy:
        automated:
          prune: true
    {{- end }}
"#,
    );
    let out = expand(&appset, THIS, &Mem::default()).unwrap();
    let a = &out.applications[0]["spec"];
    assert_eq!(a["project"], "special");
    assert_eq!(a["source"]["path"], "apps/a");
    assert_eq!(a["syncPolicy"]["automated"]["prune"], true);
    assert!(out.applications[1]["spec"].get("syncPolicy").is_none());
}

#[test]
fn errors_name_the_application_set() {
    let dup = yaml(
        r#"
metadata: {name: dup}
spec:
  generators: [{list: {elements: [{a: one}, {a: two}]}}]
  template: {metadata: {name: same}, spec: {}}
"#,
    );
    assert_eq!(
        expand(&dup, THIS, &Mem::default()).unwrap_err(),
        "ApplicationSet dup: contains applications with duplicate name: same"
    );

    let bad_go = yaml(
        r#"
metadata: {name: bad}
spec:
  goTemplate: true
  generators: [{list: {elements: [{a: x}]}}]
  template: {metadata: {name: '{{ .a '}, spec: {}}
"#,
    );
    let err = expand(&bad_go, THIS, &Mem::default()).unwrap_err();
    assert!(err.contains("unclosed action"), "{err}");
    assert!(
        err.starts_with("ApplicationSet bad: generator 1 (list): failed to parse template"),
        "{err}"
    );

    // Left open after a string literal: gtmpl alone would never return.
    let mut open_string = bad_go.clone();
    open_string["spec"]["template"]["metadata"]["name"] = json!("{{ \"s\" ");
    let err = expand(&open_string, THIS, &Mem::default()).unwrap_err();
    assert!(err.contains("unclosed action"), "{err}");

    let not_string = yaml(
        r#"
metadata: {name: ns}
spec:
  generators: [{list: {elements: [{a: {b: c}}]}}]
  template: {metadata: {name: x}, spec: {}}
"#,
    );
    let err = expand(&not_string, THIS, &Mem::default()).unwrap_err();
    assert_eq!(
        err,
        "ApplicationSet ns: generator 1 (list): element value a is not a string"
    );

    let bad_matrix = yaml(
        r#"
metadata: {name: mx}
spec:
  generators: [{matrix: {generators: [{list: {elements: []}}]}}]
  template: {metadata: {name: x}, spec: {}}
"#,
    );
    let err = expand(&bad_matrix, THIS, &Mem::default()).unwrap_err();
    assert!(
        err.starts_with(
            "ApplicationSet mx: generator 1 (matrix): matrix generator needs exactly two"
        ),
        "{err}"
    );

    let bad_file = Mem::new(&[("c/config.json", "{not: [valid")]);
    let files = yaml(
        r#"
metadata: {name: bf}
spec:
  generators: [{git: {repoURL: 'https://github.com/example/deploy', files: [{path: c/config.json}]}}]
  template: {metadata: {name: x}, spec: {}}
"#,
    );
    let err = expand(&files, THIS, &bad_file).unwrap_err();
    assert!(
        err.starts_with("ApplicationSet bf: generator 1 (git): c/config.json: "),
        "{err}"
    );

    assert_eq!(
        expand(&json!({"metadata": {"name": "e"}}), THIS, &Mem::default()).unwrap_err(),
        "ApplicationSet e: no spec"
    );
}

#[test]
fn globs_follow_go_path_match_and_git_pathspec() {
    assert_eq!(path_match("a/*", "a/b"), Some(true));
    assert_eq!(path_match("a/*", "a/b/c"), Some(false));
    assert_eq!(path_match("*", "a"), Some(true));
    assert_eq!(path_match("a/**", "a/b/c"), Some(false));
    assert_eq!(path_match("d/[f|g]", "d/g"), Some(true));
    assert_eq!(path_match("d/[^f]", "d/f"), Some(false));
    assert_eq!(path_match("d/[a-c]x", "d/bx"), Some(true));
    assert_eq!(path_match("d/?", "d/e"), Some(true));
    assert_eq!(path_match("d/[", "d/e"), None);
    assert!(pathspec_match("c/*.yaml", "c/x/y.yaml"));
    assert!(pathspec_match("c/**/config.json", "c/a/b/config.json"));
    assert!(pathspec_match("c", "c/a.json"));
    assert!(!pathspec_match("c/a.json", "c/a.jsonx"));
    assert!(!pathspec_match("c/*.yaml", "d/y.yaml"));
}

#[test]
fn go_float_printing() {
    use super::generators::go_float_for_tests as f;
    assert_eq!(f(123456.0), "123456");
    assert_eq!(f(1234567.0), "1.234567e+06");
    assert_eq!(f(123456789012.0), "1.23456789012e+11");
    assert_eq!(f(0.5), "0.5");
    assert_eq!(f(0.00001), "1e-05");
    assert_eq!(f(-3.0), "-3");
}
