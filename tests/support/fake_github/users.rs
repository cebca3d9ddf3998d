//! Who the token is: `GET /user`. GitHub refuses it to installation tokens (a workflow's
//! `GITHUB_TOKEN`, a GitHub App's token) and answers a personal access token with its user.

use serde_json::Value;

use super::{Reply, Shared};

const DOCS: &str = "https://docs.github.com/rest/users/users#get-the-authenticated-user";

impl Shared {
    /// 403 "Resource not accessible by integration" for the default installation-like token;
    /// the private profile of the user set with `FakeGitHub::set_token_user` otherwise.
    pub(super) fn authenticated_user(&self) -> Reply {
        let Some(login) = self.state().token_user.clone() else {
            return Reply::error(403, "Resource not accessible by integration", DOCS);
        };
        let mut user = self.account_json(&login, "User");
        let created = "2020-01-02T03:04:05Z";
        let fields = serde_json::json!({
            // The token's own user sees their private profile.
            "user_view_type": "private",
            "name": null,
            "company": null,
            "blog": "",
            "location": null,
            "email": null,
            "hireable": null,
            "bio": null,
            "twitter_username": null,
            "notification_email": null,
            "public_repos": 0,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": created,
            "updated_at": created,
            "private_gists": 0,
            "total_private_repos": 0,
            "owned_private_repos": 0,
            "disk_usage": 0,
            "collaborators": 0,
            "two_factor_authentication": true,
            "plan": {
                "name": "free",
                "space": 976_562_499,
                "collaborators": 0,
                "private_repos": 10_000,
            },
        });
        if let (Value::Object(user), Value::Object(fields)) = (&mut user, fields) {
            user.extend(fields);
        }
        Reply::json(200, user)
    }
}
