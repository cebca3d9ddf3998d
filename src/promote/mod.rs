//! Promotion: carrying a change merged into the source branch (staging) to the target branch
//! (production) through its own cherry-picked pull request.

pub mod flow;
pub mod image_update;
pub mod plan;
pub mod settings;

pub use plan::{MergeKind, PickSummary, PromotionPlan, SourcePr, Templates};
