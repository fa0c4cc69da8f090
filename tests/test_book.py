"""The rendered course (make book) builds, and every lesson page shows the figures its notebook draws.

Builds the site with one lesson (lesson 00, the fastest) into a temporary folder with the real Sphinx and
myst-nb, executing the notebook as `make book` does. Skipped when the `book` extra is not installed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("myst_nb", reason="the site needs the book extra: pip install 'mtl-course[book]'")

ROOT = Path(__file__).resolve().parents[1]
LESSON = "00_welcome_and_data"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("book") / "html"
    env = {**os.environ, "MTL_COURSE_BOOK_LESSONS": LESSON[:2], "MTL_COURSE_PROGRESS": "0"}
    env.pop("MPLBACKEND", None)           # the kernel's inline backend draws the figures into the page
    done = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-c", "book", "-W", "--keep-going", "-q",
                           ".", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_front_page_is_the_readme_and_lists_the_lessons(site):
    front = (site / "book" / "index.html").read_text()
    readme_title = (ROOT / "README.md").read_text().splitlines()[0].lstrip("# ").split(" — ")[0]
    assert readme_title in front
    assert f'href="../notebooks/{LESSON}.html"' in front
    assert 'http-equiv="refresh"' in (site / "index.html").read_text()     # the site's root leads there


def test_lesson_page_holds_every_figure_of_the_executed_notebook(site):
    page = (site / "notebooks" / f"{LESSON}.html").read_text()
    shown = re.findall(r'<img[^>]*src="\.\./_images/[^"]+\.png"', page)
    executed = nbformat.read(site.parent / "jupyter_execute" / "notebooks" / f"{LESSON}.ipynb", as_version=4)
    drawn = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(drawn) >= 3 and len(shown) == len(drawn)
    assert all((site / "_images" / Path(src.split('src="../_images/')[1]).name.rstrip('"')).is_file() for src in shown)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error" or o.get("name") == "stderr"]
    assert not errors, errors
