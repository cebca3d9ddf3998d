//! Publishing to pull requests: a rendered report or a short note kept as one sticky comment,
//! edited in place across runs. Planning is in `comment`; this module makes the calls.

use crate::comment::{self, Action, Existing, Marker, Mode};
use crate::gha::Log;
use crate::github::{ApiError, GitHub, User};
use crate::model::Report;
use crate::model::short;
use crate::report::budget::{self, Budget, COMMENT_LIMIT};

/// Where and how a report is kept as a sticky comment.
pub(crate) struct Sticky<'a> {
    pub(crate) number: u64,
    /// The PR head the report was rendered for.
    pub(crate) head_sha: &'a str,
    pub(crate) id: &'a str,
    pub(crate) mode: Mode,
    pub(crate) max_parts: usize,
    pub(crate) on_no_changes: bool,
    /// The workflow run whose job summary holds the full report; none for a terminal run.
    pub(crate) run_url: Option<&'a str>,
}

/// Upserts a report as a sticky comment. Returns the URL of its first part, if one exists
/// afterwards. A forbidden write only warns: the report is in the job summary anyway.
pub(crate) async fn publish_report(
    log: &dyn Log,
    github: &GitHub,
    sticky: &Sticky<'_>,
    report: &Report,
    note: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let number = sticky.number;
    // A newer push starts a newer run; its result must not be overwritten by this older one.
    let current = github.pull(number).await?;
    if current.head.sha != sticky.head_sha {
        log.notice(format!(
            "PR #{number} moved on to {} since this run started ({}); leaving the comment to the newer run.",
            short(&current.head.sha),
            short(sticky.head_sha)
        ));
        return Ok(None);
    }
    let thread = Thread::read(github, number, sticky.id).await?;
    if !report.has_changes()
        && !report.has_errors()
        && comment::ours(&thread.comments, sticky.id, thread.token_user()).is_empty()
        && !sticky.on_no_changes
    {
        log.info("No rendered changes and no earlier comment: not commenting.");
        return Ok(None);
    }
    let hint = match sticky.run_url {
        Some(url) => {
            format!("Full report: [job summary]({url}) (and the `report-file` output).")
        }
        None => "Full report: `gitops-promote diff` of this branch against its base.".to_string(),
    };
    let fitted = budget::fit(
        report,
        &Budget {
            limit: COMMENT_LIMIT,
            reserve: Marker::reserve(sticky.id, sticky.max_parts),
            max_parts: sticky.max_parts,
        },
        note,
        &hint,
    );
    let bodies = comment::with_markers(&fitted.parts, sticky.id, sticky.head_sha);
    apply_calls(
        log,
        github,
        number,
        &thread,
        sticky.id,
        &bodies,
        sticky.mode,
    )
    .await
}

/// Keeps one short sticky comment (e.g. the link from a source PR to its promotion).
pub(crate) async fn publish_note(
    log: &dyn Log,
    github: &GitHub,
    number: u64,
    id: &str,
    body: &str,
) -> anyhow::Result<Option<String>> {
    let thread = Thread::read(github, number, id).await?;
    let bodies = comment::with_markers(&[body.to_string()], id, "-");
    apply_calls(log, github, number, &thread, id, &bodies, Mode::Update).await
}

/// The comments on a PR, and who the token writes as when that decides which of them are ours.
struct Thread {
    comments: Vec<Existing>,
    /// The login of the user the token acts for; `None` for an installation token, and when no
    /// user's comment carries our marker (then it was not asked for).
    token_user: Option<String>,
}

impl Thread {
    /// Reads every comment. `GET /user` is asked only when a user's comment carries the marker
    /// for `id` (a personal access token's earlier report, or someone's copy of our marker), so
    /// the usual run with a bot's token makes no extra call.
    async fn read(github: &GitHub, number: u64, id: &str) -> anyhow::Result<Thread> {
        let comments = existing_comments(github, number).await?;
        let token_user = if comment::needs_token_user(&comments, id) {
            github.authenticated_login().await?
        } else {
            None
        };
        Ok(Thread {
            comments,
            token_user,
        })
    }

    fn token_user(&self) -> Option<&str> {
        self.token_user.as_deref()
    }
}

async fn existing_comments(github: &GitHub, number: u64) -> anyhow::Result<Vec<Existing>> {
    Ok(github
        .comments(number)
        .await?
        .into_iter()
        .map(|c| Existing {
            id: c.id,
            node_id: c.node_id,
            body: c.body.unwrap_or_default(),
            html_url: c.html_url,
            author: c.user.as_ref().map(User::author),
        })
        .collect())
}

async fn apply_calls(
    log: &dyn Log,
    github: &GitHub,
    number: u64,
    thread: &Thread,
    id: &str,
    bodies: &[String],
    mode: Mode,
) -> anyhow::Result<Option<String>> {
    let existing = &thread.comments;
    let mut first_url = None;
    for action in comment::reconcile(existing, id, bodies, mode, thread.token_user()) {
        match apply(github, number, &action, existing).await {
            Ok(Some(url)) if first_url.is_none() => first_url = Some(url),
            Ok(_) => {}
            Err(e) if e.is_forbidden() => {
                log.warning(format!(
                    "Cannot comment on PR #{number} with this token ({e}). PRs from forks get a \
                     read-only GITHUB_TOKEN; the report is in the job summary. See the README for \
                     commenting on fork PRs with a workflow_run workflow."
                ));
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(first_url)
}

/// Performs one planned call; returns the URL of the comment when it is part 1.
async fn apply(
    github: &GitHub,
    number: u64,
    action: &Action,
    existing: &[Existing],
) -> Result<Option<String>, ApiError> {
    match action {
        Action::Create { part, body } => {
            let created = github.create_comment(number, body).await?;
            Ok((*part == 1).then_some(created.html_url))
        }
        Action::Update { id, part, body } => {
            let updated = github.update_comment(*id, body).await?;
            Ok((*part == 1).then_some(updated.html_url))
        }
        Action::Keep { id, part } => Ok((*part == 1)
            .then(|| {
                existing
                    .iter()
                    .find(|c| c.id == *id)
                    .map(|c| c.html_url.clone())
            })
            .flatten()),
        Action::Delete { id } => github.delete_comment(*id).await.map(|()| None),
        Action::Retire { id, node_id, body } => {
            github.update_comment(*id, body).await?;
            github.minimize_comment(node_id).await.map(|()| None)
        }
    }
}
