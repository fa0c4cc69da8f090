"""The rendered course (`make book`): the README as the front page, then the lessons, executed by myst-nb.

    sphinx-build -b html -c book . build/book          # from the course folder; what `make book` runs

MTL_COURSE_BOOK_LESSONS="00 03" builds only those lessons (the test suite builds a subset).
"""

import os

project = "mtl-course"
author = "The mtl-course developers"
copyright = "2026, The mtl-course developers"

root_doc = "book/index"
_lessons = os.environ.get("MTL_COURSE_BOOK_LESSONS", "").split()
include_patterns = ["book/index.md", "book/timings.md",
                    *([f"notebooks/{n}_*.ipynb" for n in _lessons] or ["notebooks/*.ipynb"])]
exclude_patterns = [".venv", "build", "data", "**/.ipynb_checkpoints"]

extensions = ["myst_nb"]
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]      # the README starts with a title and jumps levels in places

# Execute every lesson top to bottom at build time: the site shows what the code prints today.
nb_execution_mode = "force"
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

html_theme = "sphinx_book_theme"
html_title = "Multi-task learning for image segmentation"
html_theme_options = {
    "repository_url": "https://github.com/mtl-course/mtl-course",
    "repository_branch": "main",
    "use_repository_button": True,
    "launch_buttons": {"colab_url": "https://colab.research.google.com"},
    "path_to_docs": "",
}
html_extra_path = ["_extra"]          # (relative to this folder) index.html at the site's root, leading to the front page
