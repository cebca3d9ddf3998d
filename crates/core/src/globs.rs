//! Glob sets from the patterns people write in inputs and flags (overlay paths, excluded paths,
//! branch names), built one way so that each caller only words its own errors.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// Why a list of patterns made no glob set.
#[derive(Debug)]
pub enum GlobError {
    /// The pattern at this index of the list is not a glob.
    Pattern { index: usize, error: globset::Error },
    /// Every pattern is a glob, but together they make no set.
    Set(globset::Error),
}

/// Matches any of `patterns`. With `literal_separator`, `*` stops at `/` (as in a branch name
/// like `image-updater/*`); without it, `*` crosses directories.
pub fn glob_set<'a>(
    patterns: impl IntoIterator<Item = &'a str>,
    literal_separator: bool,
) -> Result<GlobSet, GlobError> {
    let mut set = GlobSetBuilder::new();
    for (index, pattern) in patterns.into_iter().enumerate() {
        let glob = GlobBuilder::new(pattern)
            .literal_separator(literal_separator)
            .build()
            .map_err(|error| GlobError::Pattern { index, error })?;
        set.add(glob);
    }
    set.build().map_err(GlobError::Set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_literal_separator_keeps_a_star_within_one_segment() {
        let paths = glob_set(["overlays/*"], false).unwrap();
        assert!(paths.is_match("overlays/prod/eu"));
        let branches = glob_set(["image-updater/*"], true).unwrap();
        assert!(branches.is_match("image-updater/api"));
        assert!(!branches.is_match("image-updater/api/x"));
    }

    #[test]
    fn a_bad_pattern_is_named_by_its_place_in_the_list() {
        let Err(GlobError::Pattern { index, .. }) = glob_set(["ok/*", "["], false) else {
            panic!("the second pattern is not a glob");
        };
        assert_eq!(index, 1);
    }
}
