"""MkDocs hooks of convprop's site (mkdocs.yml, ``hooks:``); nothing here is part of the library.

- ``<!-- convprop-usage: train -->`` in a page becomes the text of ``convprop train --help``,
  taken from the argparse parser at build time (``experiment noise`` names a sub-command's
  sub-command), so the command pages cannot drift from the code.
- A guide's ``Back to the [README](../README.md)`` link points to the site's home page: the
  README is the repository's front page, ``index.md`` the site's.
- Sphinx roles left in docstrings (``:func:`x```) are shown as plain code.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex

USAGE = re.compile(r"<!--\s*convprop-usage:\s*(.*?)\s*-->")
README_LINK = re.compile(r"\]\((?:\.\./)+README\.md(#[^)]*)?\)")
ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc|obj):(<code>)")


def usage(command: str) -> str:
    """The help text of ``convprop COMMAND --help``, as argparse prints it (80 columns)."""
    from convprop.cli import build_parser

    out = io.StringIO()
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"  # argparse wraps to the terminal's width: fix it
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            build_parser().parse_args([*shlex.split(command), "--help"])
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    text = out.getvalue().rstrip()
    if not text.startswith("usage:"):
        raise ValueError(f"convprop {command} --help printed no usage: {text[:200]!r}")
    shown = " ".join(["convprop", *shlex.split(command), "--help"])
    return f"```text\n$ {shown}\n{text}\n```"


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ANN001
    markdown = USAGE.sub(lambda m: usage(m.group(1)), markdown)
    depth = page.file.src_uri.count("/")
    home = "../" * depth + "index.md"
    return README_LINK.sub(lambda m: f"]({home}{m.group(1) or ''})", markdown)


def on_page_content(html: str, page, config, files) -> str:  # noqa: ANN001
    return ROLE.sub(r"\1", html)
