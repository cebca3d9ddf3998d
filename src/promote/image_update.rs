//! Branches Argo CD Image Updater writes to (its `write-back-target` branch mode): each push
//! opens or updates one PR to the target branch, titled with the image change and carrying the
//! rendered diff, so a new tag reaches production through review like any other change.

use anyhow::Context;

use crate::github::NewPull;
use crate::model::Report;
use crate::promote::flow::Promoter;

const HEAD_REF: &str = "refs/gitops-promote/image-update/head";
const BASE_REF: &str = "refs/gitops-promote/image-update/base";

/// The PR an Image Updater branch has after this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageUpdatePr {
    pub(crate) url: String,
    /// The PR was opened by this run (not updated).
    pub(crate) opened: bool,
}

impl Promoter<'_> {
    /// Renders `branch` against `target` (from their merge base, as the PR shows it), then
    /// opens or updates the PR and its sticky diff comment. A merged PR is left alone.
    pub(crate) async fn image_update(
        &self,
        branch: &str,
        target: &str,
    ) -> anyhow::Result<(Option<ImageUpdatePr>, Report)> {
        let (merge_base, head) = self
            .repo
            .fetch_until_merge_base(
                &self.settings.clone_url,
                Some(&self.settings.token),
                (
                    &format!("refs/heads/{target}"),
                    &format!("refs/heads/{branch}"),
                ),
                (BASE_REF, HEAD_REF),
            )?
            .with_context(|| {
                format!("{branch} and {target} share no history; nothing to compare")
            })?;
        let report = self.render((merge_base, target), (head, branch)).await?;

        let existing = self.github.find_pull_by_head(branch, target).await?;
        if let Some(pr) = existing.as_ref().filter(|p| p.merged_at.is_some()) {
            self.log.info(&format!(
                "{branch} was already merged into {target} with #{}; nothing to do.",
                pr.number
            ));
            return Ok((None, report));
        }
        let new = NewPull {
            title: title(&report, branch),
            head: branch.to_string(),
            base: target.to_string(),
            body: body(&report, branch, target),
            draft: false,
        };
        let (pr, opened) = self.write_pull(existing, &new).await?;
        self.publish_diff(pr.number, head, &report).await?;
        Ok((
            Some(ImageUpdatePr {
                url: pr.html_url,
                opened,
            }),
            report,
        ))
    }
}

/// `Image update: ghcr.io/acme/api: 1.4.2 → 1.5.0` (plus how many more), else the branch.
pub(crate) fn title(report: &Report, branch: &str) -> String {
    let lines: Vec<String> = report
        .overlays
        .iter()
        .flat_map(|o| o.images.iter().map(|i| i.to_string()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    match lines.as_slice() {
        [] => format!("Image update: {branch}"),
        [one] => format!("Image update: {one}"),
        [first, rest @ ..] => format!("Image update: {first} and {} more", rest.len()),
    }
}

/// The images per overlay, so the PR list and notifications say what is deployed; the full
/// diff follows as the sticky comment.
fn body(report: &Report, branch: &str, target: &str) -> String {
    let mut out = format!(
        "Argo CD Image Updater pushed {}. Merging it into {} deploys:\n\n",
        crate::report::markdown::code_span(branch),
        crate::report::markdown::code_span(target)
    );
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
