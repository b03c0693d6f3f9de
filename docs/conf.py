"""Sphinx configuration of the pmm_ppl documentation site.

Build it with ``./run.sh docs`` (``docs/build_docs.py``), which first makes sure that every notebook
is executed (reusing ``.cache/executed_notebooks/`` from the test run) and copies them into
``docs/notebooks/``. The build is strict: ``-W --keep-going -n`` turns every warning and every
broken cross-reference into an error.

* Generator: Sphinx with myst-nb (Markdown pages, notebooks with their stored outputs) and autodoc
  (the API reference, generated below into ``docs/api/`` from the package's modules).
* Math: MathJax 3, bundled from the ``sphinx-mathjax-offline`` wheel into ``_static/mathjax``
  instead of Sphinx's default CDN, so the site renders math without a network.
* No intersphinx: it downloads the other projects' inventories, and the build is offline. References
  to other libraries' types (jax, numpy, numpyro, ...) are therefore not links; ``nitpick_ignore_regex``
  lists them, so that nitpicky mode still catches every broken reference to our own objects.
"""

from __future__ import annotations

import importlib.metadata
import pathlib
import pkgutil

import pmm_ppl

DOCS = pathlib.Path(__file__).resolve().parent

project = "pmm_ppl"
author = "the pmm_ppl developers"
copyright = "2026, the pmm_ppl developers"
release = version = pmm_ppl.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "README.md"]
root_doc = "index"

# --- MyST and notebooks -------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # build_docs.py provides executed notebooks (see notebook_cache.py)
nb_merge_streams = True
nb_output_stderr = "remove"  # library warnings printed by the kernel (tqdm, jax) are not part of the text

# --- API reference ------------------------------------------------------------------------------
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
#: a pair overriding a protocol method (or a numpyro distribution method) without a docstring of its
#: own is not documented again on its page: the protocol (``pmm_ppl.conjugate.base``) documents it once
autodoc_inherit_docstrings = False
napoleon_google_docstring = True
napoleon_numpy_docstring = True
nitpicky = True
#: other libraries' names (no inventories offline) and typing forms that autodoc writes out
_EXTERNAL = r"(jax|jnp|jaxlib|jaxtyping|np|numpy|numpyro|dist|flax|nnx|optax|orbax|arviz|az|scipy|sklearn|matplotlib|plt|tqdm|diffrax|tfp|tensorflow_probability|typing|collections|pathlib|os|argparse|dataclasses|functools|enum|abc|types|io|json|concurrent|pickle|logging)(\..*)?"
_BUILTINS = r"(int|float|str|bool|bytes|dict|list|tuple|set|frozenset|object|type|None|NoneType|Any|Callable|Sequence|Mapping|Iterable|Iterator|Path|Array|ArrayLike|PRNGKey|Key|ndarray|NamedTuple|Self|Ellipsis|callable|optional|array|array-like|scalar|default|shape|dtype)"
#: private names (``_Schedule``, ``_INPUT_CHECKS``, ``__init_subclass__``) and type variables are not
#: documented by design; a docstring may still point a reader of the code at them
_PRIVATE = r"(.*\.)?_\w+|pmm_ppl(\.\w+)*\.[A-Z]"
nitpick_ignore_regex = [
    (r"py:.*", _EXTERNAL),
    (r"py:.*", _BUILTINS),
    (r"py:.*", _PRIVATE),
]

# --- HTML ---------------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = f"pmm_ppl {release}"
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": False,  # the sources are not copied into the site (html_copy_source)
    "navigation_with_keys": False,
}
html_last_updated_fmt = None
html_copy_source = False

_mathjax = pathlib.Path(str(importlib.metadata.distribution("sphinx-mathjax-offline").locate_file(
    "sphinx-mathjax-offline/static")))
html_static_path = [str(_mathjax)]  # its folder mathjax/ becomes _static/mathjax/
mathjax_path = "mathjax/tex-chtml.js"

# --- the API pages, one per subpackage, generated from the modules that exist --------------------
#: not documented as modules: the model files (each defines ``spec()``; the Overview lists them)
_SKIP = ("pmm_ppl.models",)


def _ref(name: str) -> str:
    obj = getattr(pmm_ppl, name)
    return f"{{py:obj}}`~{getattr(obj, '__module__', 'pmm_ppl')}.{name}`"


def _api_pages() -> None:
    out = DOCS / "api"
    out.mkdir(exist_ok=True)
    groups: dict[str, list[str]] = {}
    for info in pkgutil.walk_packages(pmm_ppl.__path__, "pmm_ppl."):
        name = info.name
        if any(part.startswith("_") for part in name.split(".")) or name.startswith(_SKIP):
            continue
        groups.setdefault(name.split(".")[1] if info.ispkg or name.count(".") > 1 else "cli", []).append(name)
    index = ["# API reference", "", "Generated from the docstrings of the package, one page per subpackage.", "",
             "```{toctree}", ":maxdepth: 1", ""]
    written = set()
    for group in sorted(groups):
        modules = sorted(m for m in groups[group] if m != f"pmm_ppl.{group}")
        package = f"pmm_ppl.{group}"
        lines = [f"# `{package}`", "", "```{eval-rst}", f".. automodule:: {package}", "   :no-members:", "```", ""]
        for module in modules:
            lines += [f"## `{module}`", "", "```{eval-rst}", f".. automodule:: {module}", "```", ""]
        text = "\n".join(lines)
        page = out / f"{group}.md"
        if not page.exists() or page.read_text() != text:  # unchanged pages keep their mtime (incremental builds)
            page.write_text(text)
        written.add(page.name)
        index.append(group)
    index += ["```", ""]
    top = "\n".join(["# `pmm_ppl`", "", "```{eval-rst}", ".. automodule:: pmm_ppl", "   :no-members:", "```", "",
                     "The top-level names: " + ", ".join(_ref(n) for n in pmm_ppl.__all__) + ".",
                     ""])
    index.insert(7, "pmm_ppl")
    for name, text in (("index.md", "\n".join(index)), ("pmm_ppl.md", top)):
        page = out / name
        if not page.exists() or page.read_text() != text:
            page.write_text(text)
        written.add(name)
    for stale in out.glob("*.md"):
        if stale.name not in written:
            stale.unlink()


_api_pages()


# --- adapters for the docstring conventions of the package ---------------------------------------
import re  # noqa: E402

#: ``Label    text`` lines, continued by lines indented to the text's column (the conjugate pairs'
#: Prior / Likelihood / Update / ... tables, or ````"time"````-style option tables): rendered as a reST
#: field list.
_LABEL_LINE = re.compile(r"^(?P<label>``[^`]+``|[A-Z][\w\-/ ]*?\S)(?P<gap> {2,})(?P<text>\S.*)$")


def _aligned_tables(app, what, name, obj, options, lines: list[str]) -> None:
    out, i, changed = [], 0, False
    while i < len(lines):
        # a table starts a paragraph (so rows of a reST simple table, after its border, are left alone)
        m = _LABEL_LINE.match(lines[i]) if i == 0 or not lines[i - 1].strip() else None
        col = m.start("text") if m else -1
        run, j = [], i
        while m and m.start("text") == col:  # a run of labels aligned on the same column
            entry = [f":{m['label']}: {m['text']}"]
            j += 1
            while j < len(lines) and lines[j].startswith(" " * col) and lines[j].strip():
                entry.append("   " + lines[j][col:])
                j += 1
            run.append(entry)
            m = _LABEL_LINE.match(lines[j]) if j < len(lines) else None
        if len(run) >= 2:
            if out and out[-1].strip():
                out.append("")
            for entry in run:
                out.extend(entry)
            if j < len(lines) and lines[j].strip():
                out.append("")
            i, changed = j, True
        else:
            out.append(lines[i])
            i += 1
    if changed:
        lines[:] = out


def _drop_namedtuple_aliases(app, what, name, obj, options, lines: list[str]) -> None:
    """``collections.namedtuple`` documents each field as "Alias for field number N": say nothing instead."""
    text = [line.strip() for line in lines if line.strip()]
    if len(text) == 1 and re.fullmatch(r"Alias for field number \d+", text[0]):
        lines.clear()


def _attribute_docstring_as_text(self) -> list[str]:
    """Napoleon reads the first line of an attribute or property docstring as ``type: description``;
    ours are plain sentences (``Positions seen by one output: ...``), and the types are annotations."""
    return self._consume_to_end()


def _resolve_unique_suffix(app, env, node, contnode):
    """Resolve a short reference (``ModelSpec``, ``tau_leap``) that names exactly one of our objects.

    Sphinx resolves unqualified names only within the current module or class; the docstrings
    often name an object of a sibling module. A name that matches no object, or several, stays
    unresolved (and nitpicky mode reports it)."""
    from sphinx.util.nodes import make_refnode

    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    objects = env.get_domain("py").objects
    hits = {name: entry for name, entry in objects.items()
            if name.startswith("pmm_ppl.") and (name == target or name.endswith("." + target))
            and not entry.aliased}
    if len(hits) != 1:
        return None
    (fullname, entry), = hits.items()
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, fullname)


#: Warnings from docstrings in modules that this docs set-up may not edit (their owners fix them):
#: (module, message fragment). Each entry must still occur: the build fails on an entry that no
#: longer matches, so that the list only shrinks. Anything not listed fails the build.
KNOWN_DOCSTRING_ISSUES = [
    ("pmm_ppl.nets.mlp", "Inline emphasis start-string without end-string"),  # ``(B, *data_shape)`` unquoted
    ("pmm_ppl.verify.command", 'Undefined substitution referenced: "z"'),  # ``max |z|`` unquoted
]


class _KnownIssues:
    def __init__(self):
        self.seen = set()

    def filter(self, record) -> bool:
        if record.levelno < 30 or str(record.msg).startswith("KNOWN_DOCSTRING_ISSUES"):
            return True
        location = getattr(record, "location", None)
        where = f"{location!r} {getattr(location, 'source', '')} {record.getMessage()}"
        for entry in KNOWN_DOCSTRING_ISSUES:
            module, fragment = entry
            if fragment in record.getMessage() and (module in where or module.replace(".", "/") in where):
                self.seen.add(entry)
                return False
        return True


_known = _KnownIssues()


def _check_known_issues(app, exception) -> None:
    if exception is None:
        from sphinx.util import logging as sphinx_logging

        for entry in KNOWN_DOCSTRING_ISSUES:
            if entry not in _known.seen:
                sphinx_logging.getLogger(__name__).warning(
                    "KNOWN_DOCSTRING_ISSUES entry %r no longer occurs: remove it from docs/conf.py", entry)


def setup(app):
    import logging

    for handler in logging.getLogger("sphinx").handlers:  # ahead of Sphinx's own filters (which count warnings)
        if handler.level >= logging.WARNING:
            handler.filters.insert(0, _known)
    app.connect("build-finished", _check_known_issues)
    from sphinx.ext.napoleon import docstring as napoleon_docstring

    napoleon_docstring.GoogleDocstring._parse_attribute_docstring = _attribute_docstring_as_text
    app.connect("autodoc-process-docstring", _aligned_tables, priority=400)  # before napoleon (500)
    app.connect("autodoc-process-docstring", _drop_namedtuple_aliases)
    app.connect("missing-reference", _resolve_unique_suffix)
