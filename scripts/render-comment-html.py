#!/usr/bin/env python3
"""Renders a PR-comment markdown file to one self-contained HTML page that looks like GitHub's.

Used by scripts/screenshot-comment.sh for the README picture: GitHub-flavoured markdown (tables,
raw <details>, ```diff colouring) in a timeline-comment frame styled by docs/comment.css.

usage: render-comment-html.py COMMENT.md STYLE.css OUT.html
"""

import html
import re
import sys

from markdown_it import MarkdownIt

# GitHub's own classes for diff highlighting (its "prettylights" theme): inserted, deleted, and the
# @@ range line. Each line is one inline span, as on github.com, so the colour ends with the text.
DIFF_LINE_CLASSES = (("+", "pl-mi1"), ("-", "pl-md"), ("@@", "pl-mdr"))

# The header of the comment box, as GitHub shows a comment made with the Actions token.
COMMENT_AUTHOR = "github-actions"

# The github-actions avatar, drawn here so the page needs nothing from the network.
AVATAR_SVG = """<svg class="avatar" viewBox="0 0 40 40" width="40" height="40" aria-hidden="true">
  <circle cx="20" cy="20" r="20" fill="#2088ff"/>
  <circle cx="20" cy="20" r="11" fill="none" stroke="#fff" stroke-width="2.5"/>
  <path d="M17.5 15.5 L24.5 20 L17.5 24.5 Z" fill="#fff"/>
</svg>"""

# Tells the screenshot script how tall the page is: --dump-dom prints the DOM after this ran.
MEASURE_SCRIPT = """<script>
window.addEventListener("load", () => {
  document.documentElement.dataset.pageHeight =
    Math.ceil(document.documentElement.getBoundingClientRect().height);
});
</script>"""


def highlight_diff(code: str) -> str:
    """One span per diff line, classed the way GitHub's highlighter classes it."""
    lines = []
    for line in code.rstrip("\n").split("\n"):
        escaped = html.escape(line, quote=False)
        css_class = next((c for prefix, c in DIFF_LINE_CLASSES if line.startswith(prefix)), None)
        lines.append(f'<span class="{css_class}">{escaped}</span>' if css_class else escaped)
    return "\n".join(lines) + "\n"


def render_fence(renderer, tokens, idx, options, env):
    token = tokens[idx]
    language = token.info.strip().split(" ")[0]
    if language == "diff":
        body = highlight_diff(token.content)
    else:
        body = html.escape(token.content, quote=False)
    if not language:
        return f"<pre><code>{body}</code></pre>\n"
    # GitHub's wrapper for a highlighted block; it, not the <pre>, carries the bottom margin.
    return f'<div class="highlight highlight-source-{html.escape(language)}"><pre><code>{body}</code></pre></div>\n'


def render_markdown(text: str) -> str:
    # CommonMark with raw HTML plus GitHub's table and strikethrough extensions: what GFM adds that
    # our comments use. Raw HTML passes as on GitHub (<details>, <summary>, <code>, comments).
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    md.add_render_rule("fence", render_fence)
    body = md.render(text)
    # Every overlay open, so the picture shows the diffs a reviewer would expand.
    return re.sub(r"<details(\s+open)?>", "<details open>", body)


def page(body: str, css: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>github-actions bot commented</title>
<style>
{css}
</style>
</head>
<body>
<div class="timeline-item">
{AVATAR_SVG}
<div class="timeline-comment">
<div class="timeline-comment-header">
<strong class="author">{COMMENT_AUTHOR}</strong>
<span class="label">bot</span>
<span class="muted">commented</span>
</div>
<div class="markdown-body">
{body}</div>
</div>
</div>
{MEASURE_SCRIPT}
</body>
</html>
"""


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    markdown_path, css_path, out_path = sys.argv[1:]
    with open(markdown_path, encoding="utf-8") as f:
        text = f.read()
    with open(css_path, encoding="utf-8") as f:
        css = f.read()
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(page(render_markdown(text), css))
    return 0


if __name__ == "__main__":
    sys.exit(main())
