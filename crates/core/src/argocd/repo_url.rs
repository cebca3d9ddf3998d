//! Whether a `repoURL` in an Application or ApplicationSet names this repository. Argo CD
//! normalises repository URLs before comparing them (`git.NormalizeGitURL`): the scheme, a
//! trailing `.git` or `/`, user info and the host's case do not make another repository.

/// `url` reduced to `host/path` in lower case, without scheme, user, `.git` or trailing `/`;
/// `None` when it does not look like a repository URL.
pub fn normalise(url: &str) -> Option<String> {
    let url = url.trim();
    let rest = match url.split_once("://") {
        Some((_, rest)) => rest,
        // scp-like `git@github.com:owner/repo.git`
        None => {
            let (host, path) = url.split_once(':')?;
            if host.contains('/') {
                return None;
            }
            return normalise(&format!("ssh://{host}/{path}"));
        }
    };
    let rest =
        rest.rsplit_once('@').map_or(
            rest,
            |(user, host_path)| {
                if user.contains('/') { rest } else { host_path }
            },
        );
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    // A port names the same host for https; ssh on a custom port is still the same repository.
    let host = host.split_once(':').map_or(host, |(h, _)| h);
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    if host.is_empty() || path.is_empty() {
        return None;
    }
    Some(format!("{host}/{path}").to_lowercase())
}

/// Whether `a` and `b` name the same repository.
pub fn same_repo(a: &str, b: &str) -> bool {
    match (normalise(a), normalise(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_ssh_and_scp_forms_of_one_repository_match() {
        let this = "https://github.com/acme/manifests";
        for url in [
            "https://github.com/acme/manifests.git",
            "https://github.com/Acme/Manifests/",
            "http://github.com/acme/manifests",
            "git@github.com:acme/manifests.git",
            "ssh://git@github.com/acme/manifests.git",
            "https://x-access-token@github.com/acme/manifests",
        ] {
            assert!(same_repo(url, this), "{url}");
        }
        for url in [
            "https://github.com/acme/other",
            "https://gitlab.com/acme/manifests",
            "https://github.com/acme/manifests-extra",
            "acme/manifests",
            "",
        ] {
            assert!(!same_repo(url, this), "{url}");
        }
    }
}
