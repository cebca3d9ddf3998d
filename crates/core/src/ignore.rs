//! (stub: replaced by the real ignore rules)

use crate::manifest::Resource;

#[derive(Debug, Clone, Default)]
pub struct IgnoreRules {
    lines: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum IgnoreError {
    #[error("line {line}: {cause}")]
    Line { line: usize, cause: String },
}

impl IgnoreRules {
    pub fn parse(text: &str) -> Result<IgnoreRules, IgnoreError> {
        Ok(IgnoreRules {
            lines: text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string)
                .collect(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn listed(&self) -> Vec<String> {
        self.lines.clone()
    }

    pub(crate) fn apply(&self, _resources: &mut [Resource]) -> usize {
        0
    }
}
