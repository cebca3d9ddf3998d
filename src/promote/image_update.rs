//! Branches Argo CD Image Updater writes to (its `write-back-target` branch mode): each push
//! opens or updates one PR to the target branch, titled with the image change and carrying the
//! rendered diff, so a new tag reaches production through review like any other change.

use anyhow::Context;
use serde::Serialize;

use crate::comment::Mode;
use crate::diff::Report;
use crate::engine;
use crate::github::NewPull;
use crate::promote::flow::Promoter;
use crate::publish::{self, Sticky};

const HEAD_REF: &str = "refs/gitops-promote/image-update/head";
const BASE_REF: &str = "refs/gitops-promote/image-update/base";

/// The PR an Image Updater branch has, as the `image-update-pr` output describes it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ImageUpdatePr {
    pub number: u64,
    pub url: String,
    /// The PR was opened by this run (not updated).
    pub opened: bool,
}

impl Promoter<'_> {
    /// Renders `branch` against `target` (from their merge base, as the PR shows it), then
    /// opens or updates the PR and its sticky diff comment. A merged PR is left alone.
    pub async fn image_update(
        &self,
        branch: &str,
        target: &str,
    ) -> anyhow::Result<(Option<ImageUpdatePr>, Report)> {
        let token = Some(&self.inputs.github_token);
        let refspecs = [
            format!("+refs/heads/{branch}:{HEAD_REF}"),
            format!("+refs/heads/{target}:{BASE_REF}"),
        ];
        let mut found = None;
        for depth in [Some(50), Some(i32::MAX)] {
            self.repo.fetch(&self.url, token, &refspecs, depth)?;
            let (Some(head), Some(base)) =
                (self.repo.find_ref(HEAD_REF), self.repo.find_ref(BASE_REF))
            else {
                anyhow::bail!("fetching {branch} and {target} did not create their refs");
            };
            if let Ok(merge_base) = self.repo.merge_base(base, head) {
                found = Some((merge_base, head));
                break;
            }
        }
        let (merge_base, head) = found.with_context(|| {
            format!("{branch} and {target} share no history; nothing to compare")
        })?;
        let options = crate::action::diff_options(self.inputs, self.repo.path(), merge_base, head)?;
        let mut report = engine::run(&options).await?;
        report.base.name = target.to_string();
        report.head.name = branch.to_string();

        let existing = self.github.find_pull_by_head(branch, target).await?;
        if let Some(pr) = existing.as_ref().filter(|p| p.merged_at.is_some()) {
            self.runner.info(&format!(
                "{branch} was already merged into {target} with #{}; nothing to do.",
                pr.number
            ));
            return Ok((None, report));
        }
        let title = title(&report, branch);
        let body = body(&report, branch, target);
        let (pr, opened) = match existing.filter(|p| p.is_open()) {
            Some(pr) => (
                self.github.update_pull(pr.number, &title, &body).await?,
                false,
            ),
            None => (
                self.github
                    .create_pull(&NewPull {
                        title,
                        head: branch.to_string(),
                        base: target.to_string(),
                        body,
                        draft: false,
                    })
                    .await?,
                true,
            ),
        };
        let head_sha = head.to_string();
        publish::publish_report(
            self.runner,
            &self.github,
            self.env,
            &Sticky {
                number: pr.number,
                head_sha: &head_sha,
                id: &self.inputs.comment_id,
                mode: Mode::Update,
                max_parts: self.inputs.max_comments,
                on_no_changes: true,
            },
            &report,
            None,
        )
        .await?;
        Ok((
            Some(ImageUpdatePr {
                number: pr.number,
                url: pr.html_url,
                opened,
            }),
            report,
        ))
    }
}

/// `Image update: ghcr.io/acme/api: 1.4.2 → 1.5.0` (plus how many more), else the branch.
pub fn title(report: &Report, branch: &str) -> String {
    let mut lines: Vec<String> = report
        .overlays
        .iter()
        .flat_map(|o| o.images.iter().map(|i| i.to_string()))
        .collect();
    lines.dedup();
    lines.sort();
    lines.dedup();
    match lines.as_slice() {
        [] => format!("Image update: {branch}"),
        [one] => format!("Image update: {one}"),
        [first, rest @ ..] => format!("Image update: {first} and {} more", rest.len()),
    }
}

/// The images per overlay, so the PR list and notifications say what is deployed; the full
/// diff follows as the sticky comment.
fn body(report: &Report, branch: &str, target: &str) -> String {
    let mut out =
        format!("Argo CD Image Updater pushed `{branch}`. Merging it into `{target}` deploys:\n\n");
    let mut any = false;
    for overlay in &report.overlays {
        for change in &overlay.images {
            any = true;
            out.push_str(&format!(
                "- {}: {}\n",
                crate::report::markdown::code_span(&overlay.path),
                crate::report::markdown::code_span(&change.to_string())
            ));
        }
    }
    if !any {
        out.push_str("- no image changes in the rendered manifests\n");
    }
    out.push_str("\nThe rendered diff of every affected overlay is in the comment below.\n");
    out
}
