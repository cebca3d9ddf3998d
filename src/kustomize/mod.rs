//! Everything kustomize: which directories are kustomizations, what each one reads, and running
//! the real kustomize on them.

pub mod build;
pub mod graph;

pub use build::{BuildFailure, BuildJob, Builder, KustomizeCommand, privileged_args};
pub use graph::{Closure, Graph, KUSTOMIZATION_FILES};
