//! The core of gitops-promote: which overlays a change affects, rendering them at two commits
//! through a build runner, diffing the resources and rendering the report, planning sticky
//! comments and promotion PRs, and the git work behind them. Nothing here knows GitHub's API,
//! the Actions runner or the command line, and it starts no build process itself.

pub mod applications;
pub mod argocd;
pub mod cache;
pub mod comment;
pub mod diff;
pub mod engine;
pub mod git;
pub mod globs;
pub mod ignore;
pub mod images;
pub mod kustomize;
pub mod manifest;
pub mod model;
pub mod process_group;
pub mod promote;
pub mod report;
pub mod risk;
pub mod shard;
