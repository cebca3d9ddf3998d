//! Reactions to issue and pull request comments: `POST .../issues/comments/{comment_id}/reactions`.

use std::time::SystemTime;

use serde_json::{Value, json};

use super::pulls::json_object;
use super::{Reply, Shared, StoredReaction, node_id, rfc3339};

const DOCS: &str =
    "https://docs.github.com/rest/reactions/reactions#create-reaction-for-an-issue-comment";

/// GitHub's reaction names, in the order its API lists them.
pub const REACTION_CONTENTS: [&str; 8] = [
    "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes",
];

impl Shared {
    /// 201 with a new reaction of the token's user; 200 with the existing one when that user
    /// already reacted with this content; 422 for a content GitHub does not know; 404 for a
    /// comment that is not in the repository.
    pub(super) fn create_reaction(&self, full_name: &str, comment_id: u64, body: &[u8]) -> Reply {
        let request = match json_object(body, DOCS) {
            Ok(request) => request,
            Err(reply) => return reply,
        };
        let content = match request.get("content") {
            None => {
                return Reply::error(
                    422,
                    "Invalid request.\n\n\"content\" wasn't supplied.",
                    DOCS,
                );
            }
            Some(Value::String(c)) if REACTION_CONTENTS.contains(&c.as_str()) => c.clone(),
            Some(other) => {
                let allowed: Vec<String> = REACTION_CONTENTS
                    .iter()
                    .map(|c| Value::from(*c).to_string())
                    .collect();
                return Reply::error(
                    422,
                    &format!(
                        "Invalid request.\n\nFor 'properties/content', {other} is not one of [{}].",
                        allowed.join(", ")
                    ),
                    DOCS,
                );
            }
        };
        let mut state = self.state();
        if state.comment(full_name, comment_id).is_none() {
            return Reply::error(404, "Not Found", DOCS);
        }
        let login = state.token_login().to_owned();
        let existing = state.reactions.iter().find(|r| {
            r.repo == full_name
                && r.comment_id == comment_id
                && r.login == login
                && r.content == content
        });
        if let Some(existing) = existing {
            return Reply::json(200, self.reaction_json(existing));
        }
        let id = state.next_reaction_id;
        state.next_reaction_id += 1;
        let reaction = StoredReaction {
            repo: full_name.to_owned(),
            comment_id,
            id,
            login,
            content,
            created_at: rfc3339(SystemTime::now()),
        };
        let reply = Reply::json(201, self.reaction_json(&reaction));
        state.reactions.push(reaction);
        reply
    }

    fn reaction_json(&self, reaction: &StoredReaction) -> Value {
        json!({
            "id": reaction.id,
            "node_id": node_id("REA", reaction.id),
            "user": self.user_json(&reaction.login),
            "content": reaction.content,
            "created_at": reaction.created_at,
        })
    }
}
