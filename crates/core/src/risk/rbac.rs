//! RBAC grants that widen access: `rbac-wildcard`, `rbac-cluster-admin` and
//! `rbac-cluster-binding`.
//!
//! Only `rbac.authorization.k8s.io` objects count. An aggregated ClusterRole
//! (`aggregationRule`) is out of scope: its rules are filled in by the controller from the
//! ClusterRoles its selectors match, so what it grants is not in the render.

use serde_json::Value;

use super::{Context, Finding, Pair, Rule, Sides};
use crate::manifest::Resource;

const RBAC: &str = "rbac.authorization.k8s.io";
/// The fields of a policy rule a `*` can stand in.
const WILDCARD_FIELDS: [&str; 3] = ["verbs", "resources", "apiGroups"];

pub(super) fn check(sides: &Sides, _context: &Context, out: &mut Vec<Finding>) {
    for pair in sides.changed() {
        let Some(head) = pair.head else { continue };
        if head.key.group != RBAC {
            continue;
        }
        match head.key.kind.as_str() {
            "Role" | "ClusterRole" if head.body.get("aggregationRule").is_none() => {
                wildcard(pair, head, out)
            }
            "RoleBinding" => cluster_admin(pair, head, out),
            "ClusterRoleBinding" => {
                cluster_admin(pair, head, out);
                cluster_binding(pair, head, out);
            }
            _ => {}
        }
    }
}

fn strings(value: Option<&Value>) -> Vec<&str> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn rules(resource: Option<&Resource>) -> &[Value] {
    resource
        .and_then(|r| r.body.get("rules"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Whether `wide` grants at least what `narrow` does, field by field: a `*` in one field of a
/// base rule is only "already there" when the rest of the rule covered as much, so a `*` that
/// moves to more resources or verbs is new while reordering or narrowing rules is not.
fn covers(wide: &Value, narrow: &Value) -> bool {
    let list_covers = |field: &str| {
        let wide = strings(wide.get(field));
        wide.contains(&"*") || strings(narrow.get(field)).iter().all(|n| wide.contains(n))
    };
    // resourceNames narrows a rule: none means every name.
    let names_cover = {
        let wide = strings(wide.get("resourceNames"));
        let narrow = strings(narrow.get("resourceNames"));
        wide.is_empty() || (!narrow.is_empty() && narrow.iter().all(|n| wide.contains(n)))
    };
    ["verbs", "resources", "apiGroups", "nonResourceURLs"]
        .into_iter()
        .all(list_covers)
        && names_cover
}

fn has_wildcard(rule: &Value, field: &str) -> bool {
    strings(rule.get(field)).contains(&"*")
}

fn wildcard(pair: Pair, head: &Resource, out: &mut Vec<Finding>) {
    let base_rules = rules(pair.base);
    let mut gained = Vec::new();
    for (index, rule) in rules(Some(head)).iter().enumerate() {
        let fields: Vec<&str> = WILDCARD_FIELDS
            .into_iter()
            .filter(|field| has_wildcard(rule, field))
            .filter(|field| {
                !base_rules
                    .iter()
                    .any(|old| has_wildcard(old, field) && covers(old, rule))
            })
            .collect();
        if !fields.is_empty() {
            let now = if pair.base.is_some() { "now " } else { "" };
            gained.push(format!(
                "rules[{index}] {now}has * in {}",
                fields.join(" and ")
            ));
        }
    }
    if !gained.is_empty() {
        let new = match pair.base {
            Some(_) => String::new(),
            None => format!("new {}: ", head.key.kind),
        };
        out.push(Finding::new(
            Rule::RbacWildcard,
            head,
            format!(
                "{new}{}; it grants everything there, including what is added later",
                gained.join("; ")
            ),
        ));
    }
}

/// `(kind, name)` of the role a binding names.
fn role_ref(resource: &Resource) -> Option<(&str, &str)> {
    let role = resource.body.get("roleRef")?;
    Some((role.get("kind")?.as_str()?, role.get("name")?.as_str()?))
}

/// A subject as people name it: `ServiceAccount shop/deployer`, `Group devs`, `User alice`.
fn subject_names(resource: &Resource, kinds: &[&str]) -> Vec<String> {
    resource
        .body
        .get("subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let kind = s.get("kind")?.as_str()?;
            let name = s.get("name")?.as_str()?;
            if !kinds.is_empty() && !kinds.contains(&kind) {
                return None;
            }
            Some(match s.get("namespace").and_then(Value::as_str) {
                Some(ns) if kind == "ServiceAccount" => format!("{kind} {ns}/{name}"),
                _ => format!("{kind} {name}"),
            })
        })
        .collect()
}

fn cluster_admin(pair: Pair, head: &Resource, out: &mut Vec<Finding>) {
    let is_admin = |r: &Resource| role_ref(r) == Some(("ClusterRole", "cluster-admin"));
    if !is_admin(head) || pair.base.is_some_and(is_admin) {
        return;
    }
    let grant = match (pair.base, pair.base.and_then(role_ref)) {
        (Some(_), Some((kind, name))) => {
            format!("roleRef changed from {kind} {name} to ClusterRole cluster-admin")
        }
        (Some(_), None) => "roleRef is now ClusterRole cluster-admin".to_string(),
        (None, _) => "new binding to ClusterRole cluster-admin".to_string(),
    };
    // cluster-admin through a RoleBinding is bounded by the binding's namespace.
    let scope = match (head.key.kind.as_str(), &head.key.namespace) {
        ("RoleBinding", Some(ns)) => format!("everything in namespace {ns}"),
        ("RoleBinding", None) => "everything in its namespace".to_string(),
        _ => "the whole cluster".to_string(),
    };
    let subjects = subject_names(head, &[]);
    let message = if subjects.is_empty() {
        format!("{grant}, control of {scope}, with no subjects yet")
    } else {
        format!("{grant}, giving {} control of {scope}", subjects.join(", "))
    };
    out.push(Finding::new(Rule::RbacClusterAdmin, head, message));
}

fn cluster_binding(pair: Pair, head: &Resource, out: &mut Vec<Finding>) {
    const KINDS: &[&str] = &["Group", "ServiceAccount"];
    let Some((role_kind, role_name)) = role_ref(head) else {
        return;
    };
    // A binding whose roleRef changed grants its subjects a different role, so they all count.
    let base = pair.base.filter(|b| role_ref(b) == role_ref(head));
    let before = base.map(|b| subject_names(b, KINDS)).unwrap_or_default();
    let new: Vec<String> = subject_names(head, KINDS)
        .into_iter()
        .filter(|s| !before.contains(s))
        .collect();
    if !new.is_empty() {
        out.push(Finding::new(
            Rule::RbacClusterBinding,
            head,
            format!(
                "now grants {role_kind} {role_name} in every namespace to {}",
                new.join(", ")
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::RiskSettings;
    use super::super::tests::{assess_yaml, ids};

    fn role(kind: &str, rules: &str) -> String {
        format!(
            "
apiVersion: rbac.authorization.k8s.io/v1
kind: {kind}
metadata: {{name: deployer, namespace: shop}}
rules: {rules}
"
        )
    }

    fn binding(kind: &str, role: &str, subjects: &str) -> String {
        format!(
            "
apiVersion: rbac.authorization.k8s.io/v1
kind: {kind}
metadata: {{name: deployers}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {role}}}
subjects: {subjects}
"
        )
    }

    fn findings(base: &str, head: &str) -> Vec<super::Finding> {
        assess_yaml("overlays/dev", base, head, &RiskSettings::default())
    }

    const GET_PODS: &str = "[{apiGroups: [''], resources: [pods], verbs: [get, list]}]";
    const ALL_PODS: &str = "[{apiGroups: [''], resources: [pods], verbs: ['*']}]";

    #[test]
    fn a_rule_gaining_wildcard_verbs_fires() {
        let found = findings(&role("Role", GET_PODS), &role("Role", ALL_PODS));
        assert_eq!(ids(&found), ["rbac-wildcard"]);
        assert_eq!(
            found[0].message,
            "rules[0] now has * in verbs; it grants everything there, including what is added later"
        );
    }

    #[test]
    fn a_new_cluster_role_with_wildcards_fires_naming_each_rule() {
        let rules = "[{apiGroups: [apps], resources: [deployments], verbs: [get]},
                      {apiGroups: ['*'], resources: ['*'], verbs: [get]}]";
        let found = findings("", &role("ClusterRole", rules));
        assert_eq!(ids(&found), ["rbac-wildcard"]);
        assert_eq!(
            found[0].message,
            "new ClusterRole: rules[1] has * in resources and apiGroups; it grants everything there, including what is added later"
        );
    }

    #[test]
    fn a_wildcard_spreading_to_more_resources_fires() {
        let head = "[{apiGroups: [''], resources: [pods, secrets], verbs: ['*']}]";
        assert_eq!(
            ids(&findings(&role("Role", ALL_PODS), &role("Role", head))),
            ["rbac-wildcard"]
        );
    }

    #[test]
    fn wildcards_already_there_stay_quiet() {
        // Unchanged wildcard, another rule added without one.
        let head = "[{apiGroups: [apps], resources: [deployments], verbs: [get]},
                     {apiGroups: [''], resources: [pods], verbs: ['*']}]";
        assert!(findings(&role("Role", ALL_PODS), &role("Role", head)).is_empty());
        // The wildcard rule narrowed.
        let base = "[{apiGroups: ['*'], resources: [pods, services], verbs: [get, list]}]";
        let head = "[{apiGroups: ['*'], resources: [pods], verbs: [get]}]";
        assert!(findings(&role("Role", base), &role("Role", head)).is_empty());
        // Verbs widened without a wildcard.
        let head = "[{apiGroups: [''], resources: [pods], verbs: [get, list, watch]}]";
        assert!(findings(&role("Role", GET_PODS), &role("Role", head)).is_empty());
        // An aggregated ClusterRole: the controller writes its rules.
        let aggregated = role("ClusterRole", ALL_PODS).replace(
            "rules:",
            "aggregationRule: {clusterRoleSelectors: [{matchLabels: {a: b}}]}\nrules:",
        );
        assert!(findings("", &aggregated).is_empty());
        // A wildcard resourceName is not a field the rule watches.
        let head = "[{apiGroups: [''], resources: [pods], verbs: [get], resourceNames: ['*']}]";
        assert!(findings(&role("Role", GET_PODS), &role("Role", head)).is_empty());
    }

    const TEAM: &str = "[{kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io}]";
    const CI: &str = "[{kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io},
                       {kind: ServiceAccount, name: ci, namespace: tools}]";

    #[test]
    fn a_binding_moving_to_cluster_admin_fires() {
        let base = binding("RoleBinding", "edit", TEAM)
            .replace("deployers}", "deployers, namespace: shop}");
        let head = base.replace("name: edit", "name: cluster-admin");
        let found = findings(&base, &head);
        assert_eq!(ids(&found), ["rbac-cluster-admin"]);
        assert_eq!(
            found[0].message,
            "roleRef changed from ClusterRole edit to ClusterRole cluster-admin, giving Group devs control of everything in namespace shop"
        );
    }

    #[test]
    fn a_new_cluster_admin_cluster_role_binding_fires_both_rules() {
        let found = findings("", &binding("ClusterRoleBinding", "cluster-admin", CI));
        assert_eq!(ids(&found), ["rbac-cluster-admin", "rbac-cluster-binding"]);
        assert_eq!(
            found[0].message,
            "new binding to ClusterRole cluster-admin, giving Group devs, ServiceAccount tools/ci control of the whole cluster"
        );
        assert_eq!(
            found[1].message,
            "now grants ClusterRole cluster-admin in every namespace to Group devs, ServiceAccount tools/ci"
        );
    }

    #[test]
    fn cluster_admin_already_bound_stays_quiet() {
        // Only a label changes: the grant was already there.
        let base = binding("RoleBinding", "cluster-admin", TEAM)
            .replace("deployers}", "deployers, namespace: shop}");
        let head = base.replace("namespace: shop}", "namespace: shop, labels: {a: b}}");
        assert!(findings(&base, &head).is_empty());
        // A binding to another role.
        assert!(findings("", &binding("RoleBinding", "view", TEAM)).is_empty());
    }

    #[test]
    fn a_cluster_role_binding_gaining_a_service_account_names_only_it() {
        let found = findings(
            &binding("ClusterRoleBinding", "view", TEAM),
            &binding("ClusterRoleBinding", "view", CI),
        );
        assert_eq!(ids(&found), ["rbac-cluster-binding"]);
        assert_eq!(
            found[0].message,
            "now grants ClusterRole view in every namespace to ServiceAccount tools/ci"
        );
    }

    #[test]
    fn cluster_role_bindings_without_new_groups_or_service_accounts_stay_quiet() {
        // Subjects dropped.
        assert!(
            findings(
                &binding("ClusterRoleBinding", "view", CI),
                &binding("ClusterRoleBinding", "view", TEAM)
            )
            .is_empty()
        );
        // A user is added: not a group or service account.
        let users = "[{kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io},
                      {kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]";
        assert!(
            findings(
                &binding("ClusterRoleBinding", "view", TEAM),
                &binding("ClusterRoleBinding", "view", users)
            )
            .is_empty()
        );
        // A namespaced RoleBinding to a new group.
        assert!(findings("", &binding("RoleBinding", "view", TEAM)).is_empty());
    }
}
