//! Everything kustomize: which directories are kustomizations, what each one reads, and running
//! the real kustomize on them.

pub(crate) mod build;
pub(crate) mod graph;

pub(crate) use build::{BuildFailure, BuildJob, Builder, KustomizeCommand, privileged_args};
pub(crate) use graph::{Closure, Graph, KUSTOMIZATION_FILES};
