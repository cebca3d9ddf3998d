//! Who may do what in a repository: `GET /repos/{owner}/{repo}/collaborators/{username}/permission`
//! over the roles a test gave with `FakeGitHub::set_permission`.

use serde_json::{Value, json};

use super::{Reply, Shared};

const DOCS: &str = "https://docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user";

/// GitHub's repository roles, weakest first.
pub(super) const ROLES: [&str; 6] = ["none", "read", "triage", "write", "maintain", "admin"];

fn rank(role: &str) -> usize {
    ROLES.iter().position(|r| *r == role).unwrap_or(0)
}

/// The legacy base permission GitHub reports for a role: `maintain` is `write`, `triage` is `read`.
fn base_permission(role: &str) -> &str {
    match role {
        "maintain" => "write",
        "triage" => "read",
        other => other,
    }
}

/// Push access: what makes a user a collaborator who can be assigned or asked for a review.
pub(super) fn can_push(role: &str) -> bool {
    rank(role) >= rank("write")
}

impl Shared {
    /// 200 with the permission for a user with a role, else GitHub's 404 for a non-collaborator.
    /// `raw_login` is the path segment as sent, still percent-encoded.
    pub(super) fn collaborator_permission(&self, full_name: &str, raw_login: &str) -> Reply {
        let not_found = || Reply::error(404, "Not Found", DOCS);
        let Some(login) = percent_decode(raw_login) else {
            return not_found();
        };
        let state = self.state();
        let Some((spelling, role)) = state
            .permissions
            .get(&(full_name.to_owned(), login.to_ascii_lowercase()))
        else {
            return not_found();
        };
        let at_least = |wanted: &str| rank(role) >= rank(wanted);
        let mut user = self.user_json(spelling);
        if let Value::Object(user) = &mut user {
            user.insert("role_name".to_owned(), Value::from(role.as_str()));
            user.insert(
                "permissions".to_owned(),
                json!({
                    "admin": at_least("admin"),
                    "maintain": at_least("maintain"),
                    "push": at_least("write"),
                    "triage": at_least("triage"),
                    "pull": at_least("read"),
                }),
            );
        }
        Reply::json(
            200,
            json!({
                "permission": base_permission(role),
                "role_name": role,
                "user": user,
            }),
        )
    }
}

/// A percent-encoded path segment as text; `None` for a broken escape or bytes that are not
/// UTF-8, which GitHub answers with 404 as well.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
