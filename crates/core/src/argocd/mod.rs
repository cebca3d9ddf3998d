//! What Argo CD and Argo CD Image Updater add on top of plain kustomize: Applications and the
//! kustomize settings Argo CD applies, ApplicationSets and their generators, the
//! `.argocd-source*.yaml` overrides, and the allow-tags filters Image Updater reads.

pub mod allow_tags;
pub mod app;
pub mod appset;
pub mod repo_url;
pub(crate) mod source;
