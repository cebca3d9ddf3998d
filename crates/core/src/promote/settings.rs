//! How promotions are made, as plain values: the action builds these from its inputs and the CLI
//! from its flags, so the promotion flow never reads either.

use crate::git::pick::Signature;
use crate::promote::plan::{self, Reviewers, Templates};

/// The committer GitHub shows as the Actions bot.
pub(crate) const BOT_NAME: &str = "github-actions[bot]";
pub(crate) const BOT_EMAIL: &str = "41898282+github-actions[bot]@users.noreply.github.com";

/// Who is assigned to a promotion PR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignees {
    None,
    /// The source PR's author.
    Author,
    Users(Vec<String>),
}

/// Everything that decides what a promotion writes, apart from the PR being promoted.
#[derive(Debug, Clone)]
pub struct PromotionSettings {
    /// Branch names, PR title, body, labels and draft flag of the promotion PR.
    pub templates: Templates,
    /// A source PR with one of these labels is not promoted.
    pub skip_labels: Vec<String>,
    /// Globs of paths never promoted (the target keeps its version).
    pub exclude_paths: Vec<String>,
    /// Who commits the picks (and `/deploy-branch` edits); authors are kept.
    pub committer: Signature,
    pub assignees: Assignees,
    pub reviewers: Reviewers,
}

impl PromotionSettings {
    /// The documented defaults between two branches: what the action does with no promotion
    /// inputs set.
    pub fn new(source_branch: &str, target_branch: &str) -> Self {
        PromotionSettings {
            templates: Templates {
                source_branch: source_branch.to_owned(),
                target_branch: target_branch.to_owned(),
                branch: plan::DEFAULT_BRANCH_TEMPLATE.to_owned(),
                title: plan::DEFAULT_TITLE_TEMPLATE.to_owned(),
                body: plan::DEFAULT_BODY_TEMPLATE.to_owned(),
                labels: vec!["promotion".to_owned()],
                copy_labels: None,
                draft: false,
            },
            skip_labels: vec!["no-promote".to_owned()],
            exclude_paths: Vec::new(),
            committer: Signature {
                name: BOT_NAME.to_owned(),
                email: BOT_EMAIL.to_owned(),
            },
            assignees: Assignees::Author,
            reviewers: Reviewers::None,
        }
    }

    pub fn source_branch(&self) -> &str {
        &self.templates.source_branch
    }

    pub fn target_branch(&self) -> &str {
        &self.templates.target_branch
    }
}
