"""Sphinx configuration of the sigprop documentation.

Build it from the repository root (the one command; see the README):

    pip install ".[docs]" && python -m sphinx -W --keep-going -b html docs docs/_build/html

Sphinx imports ``sigprop`` from the installed package (the API pages are read
from its docstrings). The example gallery is made by sphinx-gallery from
``examples/*.py`` without running them: each page shows the script and the
figure it saved in ``examples/figures/`` (``python examples/NAME.py`` renews it).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import sigprop

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

# -- Project ---------------------------------------------------------------------------------

project = "sigprop"
author = "the sigprop developers"
copyright = "the sigprop developers"
release = sigprop.__version__
version = ".".join(release.split(".")[:2])

# -- General ---------------------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "_gallery_src", "Thumbs.db", ".DS_Store"]
root_doc = "index"
default_role = "math"  # `x^2` in the theory pages is inline mathematics
nitpicky = False
pygments_style = "sphinx"

# -- HTML ------------------------------------------------------------------------------------

html_theme = "alabaster"
html_title = f"sigprop {release}"
html_static_path: list[str] = []
html_theme_options = {
    "description": "Exact, fast mean-field theory of randomly initialised deep networks",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "240px",
}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}

# -- API reference: autosummary, autodoc, numpydoc -------------------------------------------

autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": False}
autodoc_typehints = "none"  # the numpydoc Parameters sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# -- Example gallery (sphinx-gallery, scripts not executed) ----------------------------------
#
# The scripts in examples/ are plain programs: they save their figure under
# examples/figures/ and some run for minutes (exponential_regions.py). The gallery is
# therefore built from a copy of them in docs/_gallery_src/ (ignored by git) in which
# each docstring gets a reST title and the committed figure, and sphinx-gallery renders
# the copies without running them. The code shown on each page is the script unchanged.

GALLERY_SRC = DOCS / "_gallery_src"


def _prepare_gallery() -> None:
    """Write docs/_gallery_src/: the examples, each with its title and committed figure."""
    if GALLERY_SRC.exists():
        shutil.rmtree(GALLERY_SRC)
    GALLERY_SRC.mkdir()
    shutil.copyfile(DOCS / "gallery_header.txt", GALLERY_SRC / "GALLERY_HEADER.rst")
    for script in sorted((ROOT / "examples").glob("*.py")):
        text = script.read_text(encoding="utf-8")
        match = re.match(r'"""(.*?)\n', text)
        if match is None:
            raise RuntimeError(f"{script} has no module docstring")
        title = match.group(1).rstrip(".")
        figure = ROOT / "examples" / "figures" / f"{script.stem}.png"
        rel = f"../examples/figures/{script.stem}.png"
        head = f'"""{title}\n{"=" * len(title)}\n'
        text = head + text[match.end() :]
        if figure.exists():
            # The figure after the docstring, and the gallery thumbnail (a sphinx-gallery
            # configuration comment; it is not shown on the page).
            end = text.index('"""', 3) + 3
            block = (
                "\n\n# %%\n"
                f"# The figure this script saves (``examples/figures/{script.stem}.png``):\n"
                "#\n"
                f"# .. image:: /{rel}\n"
                f"#    :alt: {title}\n"
                "#\n"
                "# The script:\n"
                f'\n# sphinx_gallery_thumbnail_path = "{rel}"\n'
            )
            text = text[:end] + block + text[end:]
        (GALLERY_SRC / script.name).write_text(text, encoding="utf-8")


_prepare_gallery()

sphinx_gallery_conf = {
    "examples_dirs": "_gallery_src",
    "gallery_dirs": "gallery",
    "plot_gallery": "False",  # never run the scripts (see above)
    "filename_pattern": r"^$",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
    "show_signature": False,
}
