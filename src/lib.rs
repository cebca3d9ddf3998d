//! gitops-promote: render kustomize overlays at two refs and show what the cluster would receive.
//! The binary in `main.rs` only parses arguments and calls into these modules.

pub mod action;
pub mod argocd;
pub mod bench;
pub mod chatops;
pub mod cli;
pub mod comment;
pub mod config;
pub mod demo;
pub mod diff;
pub mod engine;
pub mod event;
pub mod gha;
pub mod git;
pub mod github;
pub mod images;
pub mod kustomize;
pub mod manifest;
pub mod model;
pub mod promote;
pub mod publish;
pub mod report;
