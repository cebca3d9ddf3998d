//! Slash commands in pull-request comments: what a comment asks for, and the `/deploy-branch`
//! edit. Running the commands is the action's job (`action::issue_comment`).

use std::fmt;

use anyhow::Context;
use secrecy::SecretString;

use crate::argocd::allow_tags;
use crate::git::Repo;
use crate::git::pick::Signature;
use crate::model::short;
use crate::report::markdown::{code_span, inline};

/// A command a comment can hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// Render the PR again and update its sticky comment.
    Diff,
    /// Promote the (merged) PR again.
    Promote,
    /// Change the staging Image Updater's allow-tags filter.
    Deploy(Deploy),
}

/// What `/deploy-branch` points staging at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Deploy {
    /// Images tagged `<name>-…`; `None` means the PR's own head branch. A given name has
    /// passed [`allow_tags::validate_branch`].
    Branch(Option<String>),
    /// The default filter again.
    Reset,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Diff => f.write_str("/diff"),
            Command::Promote => f.write_str("/promote"),
            Command::Deploy(Deploy::Branch(None)) => f.write_str("/deploy-branch"),
            Command::Deploy(Deploy::Branch(Some(name))) => write!(f, "/deploy-branch {name}"),
            Command::Deploy(Deploy::Reset) => f.write_str("/deploy-branch reset"),
        }
    }
}

/// What a comment's first line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed {
    Command(Command),
    /// One of our commands, used wrongly; the text is the reply, and never repeats what the
    /// comment said.
    Invalid(String),
    /// Anything else, other bots' slash commands included: left alone.
    NotACommand,
}

/// Reads the command on the comment's first non-blank line. Only that line counts, so a command
/// quoted further down a discussion never runs. A branch name is checked here, so a refused one
/// never reaches a reply, a commit or a regexp.
pub(crate) fn parse(body: &str) -> Parsed {
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
        ("/deploy-branch", []) => Parsed::Command(Command::Deploy(Deploy::Branch(None))),
        ("/deploy-branch", ["reset"]) => Parsed::Command(Command::Deploy(Deploy::Reset)),
        ("/deploy-branch", [name]) => match allow_tags::validate_branch(name) {
            Ok(()) => Parsed::Command(Command::Deploy(Deploy::Branch(Some(name.to_string())))),
            Err(reason) => Parsed::Invalid(refusal(&reason)),
        },
        ("/deploy-branch", _) => Parsed::Invalid(
            "`/deploy-branch` takes one branch name, or `reset` (e.g. `/deploy-branch feature-login`)."
                .to_string(),
        ),
        _ => Parsed::NotACommand,
    }
}

/// The reply to a branch name that cannot be deployed.
pub(crate) fn refusal(reason: &str) -> String {
    format!(
        "refused: {}. Nothing was changed.",
        reason.trim_end_matches('.')
    )
}

/// The trailer that ties a `/deploy-branch` commit to the comment that asked for it, so a
/// re-run of the same comment finds its commit instead of making another.
pub(crate) fn request_trailer(comment_id: u64) -> String {
    format!("GitOps-Promote-Request: comment {comment_id}")
}

/// The commit message of a `/deploy-branch` change.
pub(crate) fn commit_message(
    command: &Command,
    file: &str,
    value: &str,
    login: &str,
    comment_url: Option<&str>,
    comment_id: u64,
) -> String {
    let subject = match command {
        Command::Deploy(Deploy::Reset) => {
            format!("Reset the Image Updater tag filter to {value}")
        }
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

/// Everything `/deploy-branch` needs to change the filter on the source branch.
pub(crate) struct DeployRequest<'a> {
    pub(crate) repo: &'a Repo,
    pub(crate) url: &'a str,
    pub(crate) token: Option<&'a SecretString>,
    /// The branch Argo CD deploys to staging, where the change is committed.
    pub(crate) branch: &'a str,
    /// `deploy-branch-target`.
    pub(crate) file: &'a str,
    /// The allow-tags value to set.
    pub(crate) value: &'a str,
    pub(crate) command: &'a Command,
    pub(crate) login: &'a str,
    pub(crate) comment_id: u64,
    pub(crate) comment_url: Option<&'a str>,
    pub(crate) committer: &'a Signature,
    /// The repository's web address, for commit links.
    pub(crate) repository_url: &'a str,
}

/// Sets the allow-tags filter in `file` on `branch` and pushes that one change; returns the
/// reply. A re-run of the same comment finds its commit by the trailer and changes nothing;
/// a value already in place commits nothing either.
pub(crate) fn deploy(request: &DeployRequest, on_retry: impl Fn(&str)) -> anyhow::Result<String> {
    let DeployRequest {
        repo,
        url,
        token,
        branch,
        file,
        value,
        ..
    } = *request;
    let local = "refs/gitops-promote/deploy-branch";
    let trailer = request_trailer(request.comment_id);
    let link = |sha: &str| {
        format!(
            "[`{}`]({}/commit/{sha})",
            short(sha),
            request.repository_url
        )
    };
    let mut attempt = 0;
    // Someone may push between our fetch and our push; the push is then refused (never
    // forced) and the edit is made again on the new tip.
    loop {
        attempt += 1;
        repo.fetch(
            url,
            token,
            &[format!("+refs/heads/{branch}:{local}")],
            Some(50),
        )?;
        let tip = repo
            .find_ref(local)
            .with_context(|| format!("fetching {branch} did not create {local}"))?;
        if let Some(done) = repo.find_commit_with_line(tip, &trailer, 50) {
            return Ok(format!(
                "already done by {} on `{branch}`; nothing new was committed.",
                link(&done.to_string())
            ));
        }
        let Some(bytes) = repo.file_at(tip, file)? else {
            anyhow::bail!("`{file}` (input `deploy-branch-target`) does not exist on `{branch}`");
        };
        let text = String::from_utf8(bytes)
            .map_err(|_| anyhow::anyhow!("`{file}` on `{branch}` is not UTF-8 text"))?;
        let edit = allow_tags::set_allow_tags(file, &text, value)?;
        if edit.changes.is_empty() {
            return Ok(format!(
                "`{file}` on `{branch}` already allows `{value}`; nothing was committed."
            ));
        }
        let message = commit_message(
            request.command,
            file,
            value,
            request.login,
            request.comment_url,
            request.comment_id,
        );
        let commit =
            repo.commit_file(tip, file, edit.text.as_bytes(), &message, request.committer)?;
        match repo.push(url, token, commit, branch, false) {
            Ok(()) => {
                return Ok(committed_reply(
                    &link(&commit.to_string()),
                    branch,
                    value,
                    file,
                    &edit.changes,
                ));
            }
            Err(e) if attempt < 3 => on_retry(&format!(
                "Pushing to {branch} failed ({e:#}); trying again on its new tip."
            )),
            Err(e) => return Err(e.context(format!("pushing the change to {branch}"))),
        }
    }
}

/// The reply to a pushed `/deploy-branch` change; `link` is the commit's markdown link.
fn committed_reply(
    link: &str,
    branch: &str,
    value: &str,
    file: &str,
    changes: &[allow_tags::AllowTagsEdit],
) -> String {
    let mut reply = format!(
        "committed {link} to {}, setting {} in {}:\n\n",
        code_span(branch),
        code_span(value),
        code_span(file)
    );
    // The field names the Application or ImageUpdater as the file does, which anyone who can
    // push to the branch writes.
    for change in changes {
        reply.push_str(&format!(
            "- {} (line {}): {} → {}\n",
            inline(&change.field),
            change.line,
            code_span(&change.old),
            code_span(&change.new)
        ));
    }
    reply
        .push_str("\nArgo CD Image Updater now considers only image tags matching it for staging.");
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Markdown as GitHub renders it (its extensions on, raw HTML kept), so what a name could
    /// inject shows up in the HTML; the same options the core's renderer tests use.
    fn github_html(markdown: &str) -> String {
        let mut options = comrak::Options::default();
        options.extension.table = true;
        options.extension.strikethrough = true;
        options.extension.autolink = true;
        options.extension.tasklist = true;
        options.extension.footnotes = true;
        options.extension.alerts = true;
        options.render.r#unsafe = true;
        comrak::markdown_to_html(markdown, &options)
    }

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
            Parsed::Command(Command::Deploy(Deploy::Branch(Some(
                "feature-login".into()
            ))))
        );
        assert_eq!(
            parse("/deploy-branch"),
            Parsed::Command(Command::Deploy(Deploy::Branch(None)))
        );
        assert_eq!(
            parse("/deploy-branch reset"),
            Parsed::Command(Command::Deploy(Deploy::Reset))
        );
        assert!(matches!(parse("/deploy-branch a b"), Parsed::Invalid(_)));
        assert!(matches!(parse("/diff now"), Parsed::Invalid(_)));
        // A refused name is explained, never repeated: it could carry markdown or control
        // characters into the reply.
        let hostile = "a`![x](https://evil.example/p.png)";
        let Parsed::Invalid(reply) = parse(&format!("/deploy-branch {hostile}")) else {
            panic!("a hostile name is refused");
        };
        assert!(reply.starts_with("refused: ") && reply.ends_with(". Nothing was changed."));
        assert!(!reply.contains("evil.example"), "{reply}");
    }

    #[test]
    fn the_commit_message_carries_the_request_trailer() {
        let message = commit_message(
            &Command::Deploy(Deploy::Branch(Some("feature-x".into()))),
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

    #[test]
    fn a_deploy_reply_keeps_names_from_the_file_as_text() {
        // The Application's name and the old value come from the file on the branch.
        let hostile = "web`</details>@acme/team #1 ![x](https://evil.example/p.png)";
        let change = allow_tags::AllowTagsEdit {
            line: 7,
            field: format!("Application {hostile}: annotation a.allow-tags"),
            old: format!("regexp:^{hostile}"),
            new: "regexp:^feature-x-".into(),
        };
        let reply = committed_reply(
            "[`abc1234`](https://github.com/acme/manifests/commit/abc1234)",
            "develop",
            "regexp:^feature-x-",
            "apps/staging/api.yaml",
            &[change],
        );
        let html = github_html(&reply);
        assert_eq!(
            html.matches("<a ").count(),
            1,
            "only the commit link:\n{html}"
        );
        let prose = regex::Regex::new(r"(?s)<code[^>]*>.*?</code>")
            .unwrap()
            .replace_all(&html, "");
        for made in ["<img", "</details>", "@acme", "#1 "] {
            assert!(!prose.contains(made), "{made} made from a name:\n{html}");
        }
        let line = regex::Regex::new(r"<li>.*</li>").unwrap();
        assert_eq!(line.find_iter(&html).count(), 1, "{html}");
    }
}
