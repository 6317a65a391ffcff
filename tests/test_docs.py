"""The README stays short and opens with the two commands; every page it and docs/ link exists;
every page of docs/ is in the site's nav (mkdocs.yml), and the site builds in strict mode."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MKDOCS = ROOT / "mkdocs.yml"
GUIDES = sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "index.md")
PAGES = sorted((ROOT / "docs").rglob("*.md"))  # the guides, the home page, commands/, api/
TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("*.py"))
MAX_README_LINES = 150

FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def relative_links(path: Path) -> list[str]:
    """The targets of the Markdown links and images in `path` that point inside the repository."""
    text = INLINE_CODE.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    targets = (m.group(1) for m in LINK.finditer(text))
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:|#", t)]


def test_readme_is_at_most_150_lines() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines, at most {MAX_README_LINES}"


def test_readme_opens_with_the_two_commands() -> None:
    first = [line.strip() for line in README.read_text(encoding="utf-8").splitlines()[:2]]
    assert first == ["make demo", "make test"], first


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    links = relative_links(page)
    missing = [t for t in links if not (page.parent / t.split("#")[0]).exists()]
    assert not missing, f"{page.relative_to(ROOT)} links to missing files: {missing}"


def test_the_readme_links_every_docs_page() -> None:
    linked = {(ROOT / t.split("#")[0]).resolve() for t in relative_links(README)}
    unlinked = [p.name for p in GUIDES if p.resolve() not in linked]
    assert not unlinked, f"README.md does not link docs/{unlinked}"


def nav_entries() -> list[str]:
    """The files named under ``nav:`` in mkdocs.yml, relative to docs/."""
    text = MKDOCS.read_text(encoding="utf-8")
    nav = text[text.index("\nnav:") :]
    return re.findall(r"^\s*-\s*(?:[^\n]*?:\s*)?([\w./-]+\.(?:md|py))\s*$", nav, re.MULTILINE)


def test_every_docs_page_and_tutorial_is_in_the_site_nav() -> None:
    entries = nav_entries()
    named = {(ROOT / "docs" / e).resolve() for e in entries}
    missing = [e for e in entries if not (ROOT / "docs" / e).exists()]
    assert not missing, f"mkdocs.yml's nav names missing files: {missing}"
    absent = [
        p.relative_to(ROOT).as_posix() for p in [*PAGES, *TUTORIALS] if p.resolve() not in named
    ]
    assert not absent, f"add to the nav of mkdocs.yml (one line each): {absent}"


def test_every_command_has_a_page_with_its_generated_usage() -> None:
    from convprop.cli import COMMANDS

    for name in COMMANDS:
        page = ROOT / "docs" / "commands" / f"{name}.md"
        assert page.exists(), f"write docs/commands/{name}.md (and add it to mkdocs.yml's nav)"
        marker = f"<!-- convprop-usage: {name} -->"
        assert marker in page.read_text(encoding="utf-8"), f"{page.name} lacks {marker}"


@pytest.mark.slow
def test_the_site_builds_in_strict_mode(tmp_path: Path) -> None:
    """``mkdocs build --strict`` (tutorials not executed here: test_tutorials runs them): no
    broken link or reference, the API reference and the generated command usage present."""
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_jupyter"):
        pytest.importorskip(module)
    src = str(ROOT / "src")
    env = {
        **os.environ,
        "CONVPROP_DOCS_EXECUTE": "false",
        "NO_MKDOCS_2_WARNING": "1",
        "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
    }
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    conv = (site / "api" / "conv" / "index.html").read_text(encoding="utf-8")
    assert 'id="convprop.conv.conv2d_adjoint_input"' in conv
    assert 'id="convprop.nn.Conv2d"' in (site / "api" / "nn" / "index.html").read_text()
    train = (site / "commands" / "train" / "index.html").read_text(encoding="utf-8")
    assert "usage: convprop train" in train and "--batch-size" in train
    for tutorial in TUTORIALS:
        assert (site / "tutorials" / tutorial.stem / "index.html").exists(), tutorial.name


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_path_of_a_development_machine(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    found = re.findall(r"(?<![\w.])/(?:work|root|home|tmp)/[^\s`)]*", text)
    assert not found, f"{page.relative_to(ROOT)} names paths of one machine: {found}"
