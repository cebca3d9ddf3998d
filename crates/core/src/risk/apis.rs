//! (to be written)

use super::{Context, Finding, Sides};

/// A Kubernetes minor version, as `kubernetes-version` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubernetesVersion {
    pub major: u32,
    pub minor: u32,
}

impl std::str::FromStr for KubernetesVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim_start_matches('v');
        let mut parts = s.split('.');
        let major = parts.next().and_then(|p| p.parse().ok());
        let minor = parts.next().and_then(|p| p.parse().ok());
        match (major, minor) {
            (Some(major), Some(minor)) => Ok(KubernetesVersion { major, minor }),
            _ => Err(format!("'{s}' is not a Kubernetes version like 1.29")),
        }
    }
}

pub(super) fn check(_sides: &Sides, _context: &Context, _out: &mut Vec<Finding>) {}
