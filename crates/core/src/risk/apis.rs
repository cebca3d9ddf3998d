//! (to be written)

use super::{Context, Finding, Sides};

/// A Kubernetes minor version, as `kubernetes-version` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubernetesVersion {
    pub major: u32,
    pub minor: u32,
}

pub(super) fn check(_sides: &Sides, _context: &Context, _out: &mut Vec<Finding>) {}
