//! gitops-promote: render kustomize overlays at two refs and show what the cluster would receive.
//! This crate is everything that talks to the outside: the command line, GitHub's API, the
//! Actions runner and kustomize processes. The work itself is in `gitops_promote_core`.

mod action;
mod chatops;
pub mod cli;
pub mod config;
mod demo;
mod event;
mod gha;
pub mod github;
mod processes;
mod promote;
mod publish;

// The core's modules under their own names, so paths read the same on both sides.
use gitops_promote_core::{
    applications, argocd, cache, comment, engine, git, globs, ignore, kustomize, model,
    process_group, report, risk, shard,
};
