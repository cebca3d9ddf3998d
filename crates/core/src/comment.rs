//! The sticky PR comment: the hidden marker that finds our comments again, and the
//! reconciliation that turns the comments already on a PR plus the new report parts into creates, edits and deletes.
//!
//! Anyone can write the marker into a comment, so it makes a comment ours only when we wrote it:
//! its author is a bot account (what a workflow's `GITHUB_TOKEN` or a GitHub App's token writes
//! as) or the user a personal access token acts for. Otherwise a user could have the report
//! written into a comment they own, and later edit.

use std::fmt;

/// Identifies one part of our comment on a PR. Written as an HTML comment, invisible on GitHub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The `comment-id` input: several independent reports may share one PR.
    pub(crate) id: String,
    pub(crate) part: usize,
    pub(crate) parts: usize,
    /// The PR head the report was rendered for.
    pub(crate) head: String,
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
    /// Finds our marker in a comment body, on its first line only: that is where we put it, and
    /// the only line no report text reaches, so a name or build error written like a marker
    /// further down is never read as one.
    pub(crate) fn find(body: &str) -> Option<Marker> {
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

    /// Room the marker line and its newline take in a body, for the comment budget: the longest
    /// marker a report with this `id` in at most `max_parts` parts can carry. The head is counted
    /// at 64 characters, a SHA-256 object name, so a SHA-1 head (40) always fits.
    pub fn reserve(id: &str, max_parts: usize) -> usize {
        let parts = max_parts.max(1);
        let longest = Marker {
            id: id.to_string(),
            part: parts,
            parts,
            head: "f".repeat(64),
        };
        longest.to_string().chars().count() + 1
    }
}

/// Rewrites a body's marker so that it is never found again (the comment is kept, hidden).
/// Only the first line is ours to rewrite: further down, the marker's text can only be a copy
/// written by someone else (a name in a report, a quote), and is left as it was.
pub(crate) fn retire(body: &str) -> String {
    let (first, rest) = body.split_at(body.find('\n').unwrap_or(body.len()));
    first.replacen(PREFIX, OUTDATED_PREFIX, 1) + rest
}

/// Who wrote a comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub login: String,
    /// A GitHub App's bot account (GitHub's account `type` is `Bot`), e.g. `github-actions[bot]`.
    pub bot: bool,
}

impl Author {
    /// Whether this is us: a bot account (no user can write as one), or `token_user`, the user
    /// the token acts for (`None` for installation tokens). GitHub logins are case-insensitive.
    pub fn is_us(&self, token_user: Option<&str>) -> bool {
        self.bot || token_user.is_some_and(|me| self.login.eq_ignore_ascii_case(me))
    }
}

/// A comment already on the PR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub id: u64,
    pub node_id: String,
    pub body: String,
    pub html_url: String,
    /// `None` when GitHub names no author.
    pub author: Option<Author>,
}

impl Existing {
    /// Whether we may have written this comment ([`Author::is_us`]).
    pub(crate) fn written_by_us(&self, token_user: Option<&str>) -> bool {
        self.author.as_ref().is_some_and(|a| a.is_us(token_user))
    }
}

/// Whether telling our comments apart needs the token's user: some comment carrying our marker
/// for `id` was written by a user, not a bot. Only then is it worth asking GitHub who we are.
pub fn needs_token_user(comments: &[Existing], id: &str) -> bool {
    comments.iter().any(|c| {
        c.author.as_ref().is_some_and(|a| !a.bot)
            && Marker::find(&c.body).is_some_and(|m| m.id == id)
    })
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

/// Our comments with this id, ordered by part, oldest first within a part: those carrying our
/// marker that we wrote ([`Existing::written_by_us`]); a copy of the marker in anyone else's
/// comment is ignored.
pub fn ours<'a>(
    comments: &'a [Existing],
    id: &str,
    token_user: Option<&str>,
) -> Vec<(Marker, &'a Existing)> {
    let mut found: Vec<(Marker, &Existing)> = comments
        .iter()
        .filter(|c| c.written_by_us(token_user))
        .filter_map(|c| Marker::find(&c.body).map(|m| (m, c)))
        .filter(|(m, _)| m.id == id)
        .collect();
    // Stable sort keeps the API's creation order among duplicates.
    found.sort_by_key(|(m, _)| m.part);
    found
}

/// Decides the calls that leave exactly `bodies` (already carrying their markers) on the PR.
/// Extra parts and duplicate copies from earlier runs are deleted; nothing is ever posted twice.
/// Only our own comments ([`ours`]) are edited, deleted or hidden.
pub fn reconcile(
    existing: &[Existing],
    id: &str,
    bodies: &[String],
    mode: Mode,
    token_user: Option<&str>,
) -> Vec<Action> {
    let ours = ours(existing, id, token_user);
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
        by(id, "github-actions[bot]", true, body)
    }

    fn by(id: u64, login: &str, bot: bool, body: &str) -> Existing {
        Existing {
            id,
            node_id: format!("IC_{id}"),
            body: body.to_string(),
            html_url: format!("https://github.com/a/b/pull/1#issuecomment-{id}"),
            author: Some(Author {
                login: login.to_string(),
                bot,
            }),
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
        let actions = reconcile(&comments, "default", &new, Mode::Update, None);
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
        let actions = reconcile(&comments, "default", &body, Mode::Update, None);
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
            reconcile(
                &comments,
                "default",
                &new,
                Mode::Recreate {
                    hide_outdated: false
                },
                None
            ),
            vec![
                Action::Create {
                    part: 1,
                    body: new[0].clone()
                },
                Action::Delete { id: 9 }
            ]
        );
        let hidden = reconcile(
            &comments,
            "default",
            &new,
            Mode::Recreate {
                hide_outdated: true,
            },
            None,
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

    #[test]
    fn a_marker_in_a_user_s_comment_does_not_make_it_ours() {
        let ours_before = with_markers(&["old".into()], "default", "a");
        let fake = by(1, "mallory", false, &ours_before[0]);
        let anonymous = Existing {
            author: None,
            ..by(2, "ghost", false, &ours_before[0])
        };
        let comments = vec![fake.clone(), anonymous];
        assert!(ours(&comments, "default", None).is_empty());
        assert!(ours(&comments, "default", Some("ci-user")).is_empty());
        let new = with_markers(&["new".into()], "default", "b");
        assert_eq!(
            reconcile(&comments, "default", &new, Mode::Update, None),
            vec![Action::Create {
                part: 1,
                body: new[0].clone()
            }],
            "their comment is neither edited nor deleted"
        );
        assert_eq!(
            reconcile(
                &comments,
                "default",
                &new,
                Mode::Recreate {
                    hide_outdated: true
                },
                Some("ci-user")
            ),
            vec![Action::Create {
                part: 1,
                body: new[0].clone()
            }],
            "nor hidden"
        );

        // Our own comment beside theirs is still found, whichever came first.
        let comments = vec![fake, existing(3, &ours_before[0])];
        assert_eq!(
            reconcile(&comments, "default", &new, Mode::Update, None),
            vec![Action::Update {
                id: 3,
                part: 1,
                body: new[0].clone()
            }]
        );
    }

    #[test]
    fn any_bot_and_the_token_s_own_user_write_our_comments() {
        let body = with_markers(&["report".into()], "default", "a");
        let app = by(1, "promoter[bot]", true, &body[0]);
        assert!(app.written_by_us(None));
        let pat = by(2, "CI-User", false, &body[0]);
        assert!(!pat.written_by_us(None));
        assert!(!pat.written_by_us(Some("someone-else")));
        assert!(pat.written_by_us(Some("ci-user")), "logins ignore case");
        let comments = vec![pat];
        assert_eq!(
            reconcile(&comments, "default", &body, Mode::Update, Some("ci-user")),
            vec![Action::Keep { id: 2, part: 1 }]
        );
    }

    #[test]
    fn the_token_s_user_is_needed_only_for_a_user_s_comment_with_our_marker() {
        let ours = with_markers(&["report".into()], "default", "a");
        let other = with_markers(&["report".into()], "staging", "a");
        let plain = vec![
            existing(1, &ours[0]),
            by(2, "alice", false, "LGTM"),
            by(3, "alice", false, &other[0]),
        ];
        assert!(!needs_token_user(&plain, "default"));
        let marked = vec![existing(1, &ours[0]), by(4, "alice", false, &ours[0])];
        assert!(needs_token_user(&marked, "default"));
        let anonymous = Existing {
            author: None,
            ..existing(5, &ours[0])
        };
        assert!(
            !needs_token_user(&[anonymous], "default"),
            "no author is never us, whoever we are"
        );
    }

    #[test]
    fn the_marker_reserve_covers_the_longest_marker() {
        let id = "a".repeat(64);
        let marker = Marker {
            id: id.clone(),
            part: 10,
            parts: 10,
            head: "0123456789abcdef0123456789abcdef01234567".into(),
        };
        let line = marker.to_string().chars().count() + 1;
        assert_eq!(line, 149, "{marker}");
        let reserve = Marker::reserve(&id, 10);
        assert!(reserve >= line, "reserve {reserve} < marker line {line}");
        // A part filled exactly to its room still fits GitHub's limit with its marker.
        let limit = 65_536;
        let body = "x".repeat(limit - reserve);
        let bodies = with_markers(&vec![body; 10], &id, &marker.head);
        assert!(bodies.iter().all(|b| b.chars().count() <= limit));
        // The SHA-256 head is the longest there is.
        let sha256 = Marker {
            head: "f".repeat(64),
            ..marker
        };
        assert_eq!(
            Marker::reserve(&id, 10),
            sha256.to_string().chars().count() + 1
        );
        assert!(Marker::reserve("default", 1) < reserve);
        assert_eq!(Marker::reserve("default", 0), Marker::reserve("default", 1));
    }

    #[test]
    fn a_name_shaped_like_our_marker_is_never_read_as_one() {
        use crate::report::budget::{self, Budget, COMMENT_LIMIT};
        use crate::report::markdown::tests::{github_html, hostile_report};

        let forged = "<!-- gitops-promote id=default part=2/2 head=f -->";
        let mut report = hostile_report();
        report.overlays[0].path = forged.into();
        report.overlays[0].resources[0].key.kind = forged.into();
        report.overlays[0].resources[0].key.name = format!("{forged}\n{forged}");
        // Build errors are shown line by line as they are: a forged marker can start a line.
        report.overlays[1].error = Some(format!("{forged}\nError: {forged}"));
        for max_parts in [1, 3] {
            let limit = if max_parts == 1 { COMMENT_LIMIT } else { 4_000 };
            let fitted = budget::fit(
                &report,
                &Budget {
                    limit,
                    reserve: Marker::reserve("default", max_parts),
                    max_parts,
                },
                None,
                "",
            );
            let bodies = with_markers(&fitted.parts, "default", "abc");
            assert_eq!(bodies.len(), max_parts, "the test needs this many parts");
            assert!(
                bodies
                    .iter()
                    .any(|b| b.lines().skip(1).any(|l| l == forged))
            );
            for (index, body) in bodies.iter().enumerate() {
                let marker = Marker {
                    id: "default".into(),
                    part: index + 1,
                    parts: bodies.len(),
                    head: "abc".into(),
                };
                assert_eq!(Marker::find(body), Some(marker));
                let html = github_html(body);
                assert!(html.starts_with(&format!("{}\n", bodies[index].lines().next().unwrap())));
                assert_eq!(html.matches("<!--").count(), 1, "{html}");
                // Hidden, it is still ours, and only its own marker changed.
                let retired = retire(body);
                assert_eq!(Marker::find(&retired), None);
                assert_eq!(
                    retired.split_once('\n').unwrap().1,
                    body.split_once('\n').unwrap().1
                );
            }
            let comments: Vec<Existing> = bodies
                .iter()
                .enumerate()
                .map(|(i, b)| existing(i as u64 + 1, b))
                .collect();
            let parts: Vec<usize> = ours(&comments, "default", None)
                .iter()
                .map(|(m, _)| m.part)
                .collect();
            assert_eq!(parts, (1..=max_parts).collect::<Vec<_>>());
        }
    }

    #[test]
    fn retiring_rewrites_only_a_marker_on_the_first_line() {
        let forged = "<!-- gitops-promote id=default part=1/1 head=f -->";
        let body = format!("Looks good.\n{forged}");
        assert_eq!(retire(&body), body);
    }
}
