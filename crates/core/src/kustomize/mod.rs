//! Everything kustomize: which directories are kustomizations, what each one reads, and what
//! building one means.

pub mod build;
pub(crate) mod graph;

pub use build::{BuildFailure, BuildJob, Builder, KustomizeCommand, RunBuilds, privileged_args};
pub use graph::{Closure, Graph, KUSTOMIZATION_FILES};
