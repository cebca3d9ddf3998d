//! Promotion: carrying a change merged into the source branch (staging) to the target branch
//! (production) through its own cherry-picked pull request.

pub(crate) mod flow;
pub(crate) mod image_update;

pub(crate) use gitops_promote_core::promote::{plan, settings};
