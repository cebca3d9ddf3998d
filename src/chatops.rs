//! Slash commands in pull-request comments: what a comment asks for, and the `/deploy-branch`
//! edit. Running the commands is the action's job (`action::issue_comment`).

use std::fmt;

/// A command a comment can hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Render the PR again and update its sticky comment.
    Diff,
    /// Promote the (merged) PR again.
    Promote,
    /// Point the staging Image Updater at images tagged `<name>-…`; `None` means the PR's own
    /// head branch.
    DeployBranch(Option<String>),
    /// Restore the default allow-tags filter.
    DeployReset,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Diff => f.write_str("/diff"),
            Command::Promote => f.write_str("/promote"),
            Command::DeployBranch(None) => f.write_str("/deploy-branch"),
            Command::DeployBranch(Some(name)) => write!(f, "/deploy-branch {name}"),
            Command::DeployReset => f.write_str("/deploy-branch reset"),
        }
    }
}

/// What a comment's first line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Command(Command),
    /// One of our commands, used wrongly; the text is the reply.
    Invalid(String),
    /// Anything else, other bots' slash commands included: left alone.
    NotACommand,
}

/// Reads the command on the comment's first non-blank line. Only that line counts, so a command
/// quoted further down a discussion never runs.
pub fn parse(body: &str) -> Parsed {
    let Some(line) = body.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return Parsed::NotACommand;
    };
    let mut words = line.split_whitespace();
    let Some(word) = words.next() else {
        return Parsed::NotACommand;
    };
    let args: Vec<&str> = words.collect();
    match (word, args.as_slice()) {
        ("/diff", []) => Parsed::Command(Command::Diff),
        ("/promote", []) => Parsed::Command(Command::Promote),
        ("/diff" | "/promote", _) => Parsed::Invalid(format!("`{word}` takes no arguments.")),
        ("/deploy-branch", []) => Parsed::Command(Command::DeployBranch(None)),
        ("/deploy-branch", ["reset"]) => Parsed::Command(Command::DeployReset),
        ("/deploy-branch", [name]) => Parsed::Command(Command::DeployBranch(Some(name.to_string()))),
        ("/deploy-branch", _) => Parsed::Invalid(
            "`/deploy-branch` takes one branch name, or `reset` (e.g. `/deploy-branch feature-login`)."
                .to_string(),
        ),
        _ => Parsed::NotACommand,
    }
}

/// The trailer that ties a `/deploy-branch` commit to the comment that asked for it, so a
/// re-run of the same comment finds its commit instead of making another.
pub fn request_trailer(comment_id: u64) -> String {
    format!("GitOps-Promote-Request: comment {comment_id}")
}

/// The commit message of a `/deploy-branch` change.
pub fn commit_message(
    command: &Command,
    file: &str,
    value: &str,
    login: &str,
    comment_url: Option<&str>,
    comment_id: u64,
) -> String {
    let subject = match command {
        Command::DeployReset => format!("Reset the Image Updater tag filter to {value}"),
        _ => format!("Deploy images tagged {value} to staging"),
    };
    let link = comment_url
        .map(|url| format!(" in {url}"))
        .unwrap_or_default();
    format!(
        "{subject}\n\nSets the Argo CD Image Updater allow-tags filter in {file} to {value}.\n\
         Requested by @{login} with `{command}`{link}.\n\n{}\n",
        request_trailer(comment_id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_line_is_read() {
        assert_eq!(parse("/diff"), Parsed::Command(Command::Diff));
        assert_eq!(
            parse("\n  /promote  \nthanks!"),
            Parsed::Command(Command::Promote)
        );
        assert_eq!(parse("LGTM\n/promote"), Parsed::NotACommand);
        assert_eq!(parse("> /promote\nquoted"), Parsed::NotACommand);
        assert_eq!(parse(""), Parsed::NotACommand);
        assert_eq!(parse("/lgtm"), Parsed::NotACommand);
        assert_eq!(parse("/diffs"), Parsed::NotACommand);
    }

    #[test]
    fn deploy_branch_forms() {
        assert_eq!(
            parse("/deploy-branch feature-login"),
            Parsed::Command(Command::DeployBranch(Some("feature-login".into())))
        );
        assert_eq!(
            parse("/deploy-branch"),
            Parsed::Command(Command::DeployBranch(None))
        );
        assert_eq!(
            parse("/deploy-branch reset"),
            Parsed::Command(Command::DeployReset)
        );
        assert!(matches!(parse("/deploy-branch a b"), Parsed::Invalid(_)));
        assert!(matches!(parse("/diff now"), Parsed::Invalid(_)));
        // The name is checked later, by allow_tags::validate_branch, with a reply saying why.
        assert_eq!(
            parse("/deploy-branch $(id)"),
            Parsed::Command(Command::DeployBranch(Some("$(id)".into())))
        );
    }

    #[test]
    fn the_commit_message_carries_the_request_trailer() {
        let message = commit_message(
            &Command::DeployBranch(Some("feature-x".into())),
            "apps/staging/api.yaml",
            "regexp:^feature-x-",
            "octocat",
            Some("https://github.com/acme/manifests/pull/7#issuecomment-99"),
            99,
        );
        assert!(message.starts_with("Deploy images tagged regexp:^feature-x- to staging\n\n"));
        assert!(message.contains("Requested by @octocat with `/deploy-branch feature-x` in https://github.com/acme/manifests/pull/7#issuecomment-99."));
        assert!(message.ends_with("\n\nGitOps-Promote-Request: comment 99\n"));
    }
}
