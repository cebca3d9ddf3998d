//! Loopback fakes for the integration tests of `gitops-promote action`: a GitHub Enterprise
//! Server-shaped API (REST, GraphQL, git smart-HTTP) on 127.0.0.1, checked against GitHub's spec.
#![allow(dead_code, unused_imports)]

pub mod fake_github;
pub mod git_http;
pub mod graphql;
pub mod openapi;
pub mod runner;

pub use fake_github::{BOT_LOGIN, FakeComment, FakeGitHub, FakePull, RecordedRequest};
