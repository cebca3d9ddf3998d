//! The sticky PR comment: the hidden marker that makes a comment ours, and the plan that turns
//! the comments already on a PR plus the new report parts into creates, edits and deletes.

use std::fmt;

/// Identifies one part of our comment on a PR. Written as an HTML comment, invisible on GitHub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The `comment-id` input: several independent reports may share one PR.
    pub id: String,
    pub part: usize,
    pub parts: usize,
    /// The PR head the report was rendered for.
    pub head: String,
}

const PREFIX: &str = "<!-- gitops-promote ";
const OUTDATED_PREFIX: &str = "<!-- gitops-promote-outdated ";

impl fmt::Display for Marker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}id={} part={}/{} head={} -->",
            self.id, self.part, self.parts, self.head
        )
    }
}

impl Marker {
    /// Finds our marker in a comment body (first line only: that is where we put it).
    pub fn find(body: &str) -> Option<Marker> {
        let line = body.lines().next()?.trim();
        let fields = line.strip_prefix(PREFIX)?.strip_suffix("-->")?;
        let mut marker = Marker {
            id: String::new(),
            part: 0,
            parts: 0,
            head: String::new(),
        };
        for field in fields.split_whitespace() {
            match field.split_once('=')? {
                ("id", id) => marker.id = id.to_string(),
                ("part", part) => {
                    let (n, of) = part.split_once('/')?;
                    marker.part = n.parse().ok()?;
                    marker.parts = of.parse().ok()?;
                }
                ("head", head) => marker.head = head.to_string(),
                _ => {}
            }
        }
        (!marker.id.is_empty() && marker.part >= 1).then_some(marker)
    }

    /// Room the marker line takes in a body, for the comment budget.
    pub fn reserve() -> usize {
        PREFIX.len() + 120
    }
}

/// Rewrites a body's marker so that it is never found again (the comment is kept, hidden).
pub fn retire(body: &str) -> String {
    body.replacen(PREFIX, OUTDATED_PREFIX, 1)
}

/// A comment already on the PR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub id: u64,
    pub node_id: String,
    pub body: String,
    pub html_url: String,
}

/// One API call to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create {
        part: usize,
        body: String,
    },
    Update {
        id: u64,
        part: usize,
        body: String,
    },
    /// Already says exactly this; nothing to send.
    Keep {
        id: u64,
        part: usize,
    },
    Delete {
        id: u64,
    },
    /// Hide as outdated: rewrite the marker, then minimise.
    Retire {
        id: u64,
        node_id: String,
        body: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Edit our comments in place.
    Update,
    /// Post new comments and delete the old ones (or hide them).
    Recreate { hide_outdated: bool },
}

/// Our comments with this id, ordered by part, oldest first within a part.
pub fn ours<'a>(comments: &'a [Existing], id: &str) -> Vec<(Marker, &'a Existing)> {
    let mut found: Vec<(Marker, &Existing)> = comments
        .iter()
        .filter_map(|c| Marker::find(&c.body).map(|m| (m, c)))
        .filter(|(m, _)| m.id == id)
        .collect();
    // Stable sort keeps the API's creation order among duplicates.
    found.sort_by_key(|(m, _)| m.part);
    found
}

/// Decides the calls that leave exactly `bodies` (already carrying their markers) on the PR.
/// Extra parts and duplicate copies from earlier runs are deleted; nothing is ever posted twice.
pub fn plan(existing: &[Existing], id: &str, bodies: &[String], mode: Mode) -> Vec<Action> {
    let ours = ours(existing, id);
    let mut actions = Vec::new();
    match mode {
        Mode::Update => {
            let mut used = Vec::new();
            for (index, body) in bodies.iter().enumerate() {
                let part = index + 1;
                match ours
                    .iter()
                    .find(|(m, c)| m.part == part && !used.contains(&c.id))
                {
                    Some((_, c)) if c.body == *body => {
                        used.push(c.id);
                        actions.push(Action::Keep { id: c.id, part });
                    }
                    Some((_, c)) => {
                        used.push(c.id);
                        actions.push(Action::Update {
                            id: c.id,
                            part,
                            body: body.clone(),
                        });
                    }
                    None => actions.push(Action::Create {
                        part,
                        body: body.clone(),
                    }),
                }
            }
            for (_, c) in &ours {
                if !used.contains(&c.id) {
                    actions.push(Action::Delete { id: c.id });
                }
            }
        }
        Mode::Recreate { hide_outdated } => {
            // New comments first: if posting fails, the old report is still there.
            for (index, body) in bodies.iter().enumerate() {
                actions.push(Action::Create {
                    part: index + 1,
                    body: body.clone(),
                });
            }
            for (_, c) in &ours {
                actions.push(if hide_outdated {
                    Action::Retire {
                        id: c.id,
                        node_id: c.node_id.clone(),
                        body: retire(&c.body),
                    }
                } else {
                    Action::Delete { id: c.id }
                });
            }
        }
    }
    actions
}

/// Prefixes each part with its marker.
pub fn with_markers(parts: &[String], id: &str, head: &str) -> Vec<String> {
    parts
        .iter()
        .enumerate()
        .map(|(index, body)| {
            let marker = Marker {
                id: id.to_string(),
                part: index + 1,
                parts: parts.len(),
                head: head.to_string(),
            };
            format!("{marker}\n{body}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn existing(id: u64, body: &str) -> Existing {
        Existing {
            id,
            node_id: format!("IC_{id}"),
            body: body.to_string(),
            html_url: format!("https://github.com/a/b/pull/1#issuecomment-{id}"),
        }
    }

    #[test]
    fn markers_round_trip_and_ignore_other_comments() {
        let marker = Marker {
            id: "default".into(),
            part: 2,
            parts: 3,
            head: "abc123".into(),
        };
        let body = format!("{marker}\nhello");
        assert_eq!(Marker::find(&body), Some(marker));
        assert_eq!(Marker::find("LGTM"), None);
        assert_eq!(Marker::find(&retire(&body)), None);
        assert_eq!(
            Marker::find("<!-- gitops-promote id=x part=0/1 head=a -->"),
            None
        );
    }

    #[test]
    fn a_re_run_edits_in_place_and_deletes_leftover_parts() {
        let old = with_markers(
            &["one".into(), "two".into(), "three".into()],
            "default",
            "a",
        );
        let comments = vec![
            existing(1, "unrelated"),
            existing(2, &old[0]),
            existing(3, &old[1]),
            existing(4, &old[2]),
            existing(
                5,
                &with_markers(&["other report".into()], "staging", "a")[0],
            ),
        ];
        let new = with_markers(&["one".into(), "TWO".into()], "default", "a");
        let new_first = with_markers(&["one".into()], "default", "a");
        assert_ne!(new[0], new_first[0], "the part count is part of the marker");
        let actions = plan(&comments, "default", &new, Mode::Update);
        assert_eq!(
            actions,
            vec![
                Action::Update {
                    id: 2,
                    part: 1,
                    body: new[0].clone()
                },
                Action::Update {
                    id: 3,
                    part: 2,
                    body: new[1].clone()
                },
                Action::Delete { id: 4 },
            ]
        );
    }

    #[test]
    fn an_identical_body_is_not_sent_again_and_duplicates_are_removed() {
        let body = with_markers(&["same".into()], "default", "a");
        let comments = vec![existing(2, &body[0]), existing(3, &body[0])];
        let actions = plan(&comments, "default", &body, Mode::Update);
        assert_eq!(
            actions,
            vec![Action::Keep { id: 2, part: 1 }, Action::Delete { id: 3 }]
        );
    }

    #[test]
    fn recreate_posts_first_then_hides_or_deletes_the_old_comments() {
        let old = with_markers(&["old".into()], "default", "a");
        let comments = vec![existing(9, &old[0])];
        let new = with_markers(&["new".into()], "default", "b");
        assert_eq!(
            plan(
                &comments,
                "default",
                &new,
                Mode::Recreate {
                    hide_outdated: false
                }
            ),
            vec![
                Action::Create {
                    part: 1,
                    body: new[0].clone()
                },
                Action::Delete { id: 9 }
            ]
        );
        let hidden = plan(
            &comments,
            "default",
            &new,
            Mode::Recreate {
                hide_outdated: true,
            },
        );
        assert_eq!(
            hidden[1],
            Action::Retire {
                id: 9,
                node_id: "IC_9".into(),
                body: retire(&old[0])
            }
        );
    }
}
