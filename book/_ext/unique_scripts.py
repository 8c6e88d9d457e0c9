"""Sphinx extension: each page loads each script once.

sphinx-thebe (which Jupyter Book 1 always loads) registers its inline configuration script once per
reading of the sources, so a page can get it twice, and the second copy fails with "Identifier
'THEBE_JS_URL' has already been declared" (found by tests/browser/test_book_pages.py). This drops
exact repeats of a script (same file and same inline body) from every page.
"""
from __future__ import annotations


def _drop_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
    seen, kept = set(), []
    for script in context.get("script_files", []):
        # An inline script is registered once with filename None and once with "": the same script.
        filename = getattr(script, "filename", script) or ""
        key = (str(filename), repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    if "script_files" in context:
        context["script_files"][:] = kept


def setup(app):
    app.connect("html-page-context", _drop_repeated_scripts, priority=100)  # early: a later handler may end the chain
    return {"parallel_read_safe": True, "parallel_write_safe": True}
