"""Every relative link in the repository's Markdown resolves.

README.md is for the people who deploy and run the stack; docs/ holds the rest, and the two link
to each other (and to code, tests and templates) all over. A section moved or renamed breaks
such links silently on GitHub. This test reads every Markdown file of the repository (not
target/, .venv/, dist/, .aws-sam/ or the fuzz corpora) and fails on:

- a relative link to a file or folder that does not exist;
- a link to a heading (`#anchor`, in the same file or `other.md#anchor`) that the target file
  does not have, computed with GitHub's rules for heading anchors (below).

Links with a scheme (https:, mailto:) are not fetched: nothing here reaches the network.

GitHub's heading anchors (the "github-slugger" rules GitHub uses to render Markdown): the
heading's text as rendered (no backticks, emphasis or link syntax), lower-cased, every
character that is not a letter, digit, space, hyphen or underscore dropped, each space a
hyphen; the second heading with the same anchor gets "-1", the third "-2". An HTML
`<a id="x">` / `<a name="x">` is an anchor too.
"""

from __future__ import annotations

import os
import pathlib
import re
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Generated, installed or fuzzer-written trees: not the project's documents.
SKIP_DIRS = {".git", "target", ".venv", "dist", ".aws-sam", "node_modules", ".pytest_cache"}
SKIP_PREFIXES = ("fuzz/corpus", "fuzz/artifacts", "fuzz/target")

FENCE = re.compile(r"^ {0,3}(```|~~~)")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
# [text](target "title") and ![alt](target); the target may be <wrapped>.
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]*)(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(\S+)")
HTML_ANCHOR = re.compile(r"<a\s+(?:[^>]*\s)?(?:id|name)=\"([^\"]+)\"", re.I)
HTML_HREF = re.compile(r"<a\s+(?:[^>]*\s)?href=\"([^\"]+)\"", re.I)


def markdown_files(root: pathlib.Path = ROOT) -> list[pathlib.Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = pathlib.Path(dirpath).relative_to(root).as_posix()
        dirnames[:] = sorted(
            d for d in dirnames
            if d not in SKIP_DIRS and not f"{rel}/{d}".lstrip("./").startswith(SKIP_PREFIXES)
        )
        out += [pathlib.Path(dirpath) / f for f in sorted(filenames) if f.endswith(".md")]
    return out


def rendered_text(heading: str) -> str:
    """A heading's text as GitHub renders it: code spans keep their content, links their text,
    emphasis markers go."""
    text = INLINE_CODE.sub(lambda m: m.group(2).strip(), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"(\*\*|__|\*|(?<!\w)_|_(?!\w))", "", text)


def slug(heading: str) -> str:
    text = rendered_text(heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def lines_outside_code(text: str):
    """(line number, line) of every line not inside a fenced code block."""
    fenced = None
    for n, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if m:
            if fenced is None:
                fenced = m.group(1)
            elif line.strip().startswith(fenced):
                fenced = None
            continue
        if fenced is None:
            yield n, line


def anchors(text: str) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for _, line in lines_outside_code(text):
        out.update(HTML_ANCHOR.findall(line))
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(text: str):
    """(line number, target) of every link outside code."""
    for n, line in lines_outside_code(text):
        bare = INLINE_CODE.sub("", line)
        for target in INLINE_LINK.findall(bare):
            yield n, target.strip("<>")
        m = REFERENCE_DEF.match(bare)
        if m:
            yield n, m.group(1).strip("<>")
        for target in HTML_HREF.findall(bare):
            yield n, target


def broken_links(root: pathlib.Path = ROOT) -> list[str]:
    """Every link of every Markdown file under root that does not resolve, as
    'file:line: target: why'."""
    cache: dict[pathlib.Path, set[str]] = {}

    def anchors_of(path: pathlib.Path) -> set[str]:
        if path not in cache:
            cache[path] = anchors(path.read_text(encoding="utf-8"))
        return cache[path]

    problems = []
    for md in markdown_files(root):
        for n, target in links(md.read_text(encoding="utf-8")):
            if not target or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
                continue  # a scheme (https:, mailto:): not checked offline
            where = f"{md.relative_to(root).as_posix()}:{n}: {target}"
            path_part, _, fragment = target.partition("#")
            path_part = urllib.parse.unquote(path_part)
            if path_part.startswith("/"):
                dest = root / path_part.lstrip("/")
            else:
                dest = (md.parent / path_part) if path_part else md
            dest = pathlib.Path(os.path.normpath(dest))
            shown = dest.relative_to(root).as_posix() if dest.is_relative_to(root) else str(dest)
            if not dest.exists():
                problems.append(f"{where}: no such file or folder {shown}")
                continue
            if fragment and dest.is_file() and dest.suffix == ".md":
                if urllib.parse.unquote(fragment) not in anchors_of(dest):
                    problems.append(f"{where}: {shown} has no heading with anchor #{fragment}")
    return problems


# ------------------------------------------------------------------------------------ tests


def test_every_relative_link_in_the_repositorys_markdown_resolves():
    files = markdown_files()
    names = {p.relative_to(ROOT).as_posix() for p in files}
    assert "README.md" in names and "docs/README.md" in names, "the check must see the README and docs/"
    problems = broken_links()
    assert not problems, "broken links (fix the link, or the heading it points to):\n" + "\n".join(problems)


def test_the_readme_is_for_the_people_who_deploy_it_and_docs_hold_the_rest():
    # Issue 22: the README is also the Serverless Application Repository's page: about 400 lines.
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 480, f"README.md has {lines} lines: move reference material into docs/"
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    for doc in sorted((ROOT / "docs").glob("*.md")):
        if doc.name != "README.md":
            assert f"]({doc.name})" in index, f"docs/README.md does not list {doc.name}"


def test_the_checker_finds_a_missing_file_a_missing_anchor_and_accepts_good_links(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(
        "# Title\n\n## Deploy from the console (no toolchain)\n\n"
        "### 1. \"What is an OU?\" — and finding OU IDs\n\n## `orgscope status`\n\n## Tests\n\n## Tests\n\n"
        "[ok](#deploy-from-the-console-no-toolchain) [ok](#1-what-is-an-ou--and-finding-ou-ids) "
        "[ok](#orgscope-status) [second Tests](#tests-1) [ok](docs/a.md#a-section) [ok](docs/) "
        "[web](https://example.com/x#y)\n"
        "[missing file](docs/gone.md) [missing anchor](docs/a.md#no-such-section)\n"
        "[missing local anchor](#deploy-from-the-console)\n"
        "```\n[inside code](nowhere.md)\n```\n"
        "`[inline code](nowhere-either.md)`\n"
    )
    (tmp_path / "docs" / "a.md").write_text("## A section\n\n[back](../README.md#tests) [bad](../README.md#tests-2)\n")
    problems = broken_links(tmp_path)
    assert problems == [
        "README.md:14: docs/gone.md: no such file or folder docs/gone.md",
        "README.md:14: docs/a.md#no-such-section: docs/a.md has no heading with anchor #no-such-section",
        "README.md:15: #deploy-from-the-console: README.md has no heading with anchor #deploy-from-the-console",
        "docs/a.md:3: ../README.md#tests-2: README.md has no heading with anchor #tests-2",
    ], problems


def test_anchors_follow_githubs_rules():
    assert slug('1. "What is an OU?" — and finding OU IDs') == "1-what-is-an-ou--and-finding-ou-ids"
    assert slug("Before you deploy: `orgscope doctor`") == "before-you-deploy-orgscope-doctor"
    assert slug("5. The account filter: `ALL`, `INTERSECTION`, `DIFFERENCE`") == "5-the-account-filter-all-intersection-difference"
    assert slug("Accounts that already have Port's OIDC provider") == "accounts-that-already-have-ports-oidc-provider"
    assert slug("New accounts under a service control policy (quarantine)") == "new-accounts-under-a-service-control-policy-quarantine"
    assert slug("**Bold** and [a link](x.md) and snake_case") == "bold-and-a-link-and-snake_case"
