//! gitops-promote: render kustomize overlays at two refs and show what the cluster would receive.
//! The binary in `main.rs` only parses arguments and calls into these modules.

mod action;
mod argocd;
mod bench;
mod chatops;
pub mod cli;
mod comment;
pub mod config;
mod demo;
mod diff;
mod engine;
mod event;
mod gha;
mod git;
pub mod github;
mod globs;
mod images;
mod kustomize;
mod manifest;
mod model;
mod promote;
mod publish;
mod report;
