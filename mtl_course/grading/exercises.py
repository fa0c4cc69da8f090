"""Registers the questions of every exercise notebook (importing the modules does it)."""

from mtl_course.grading import exercise01, exercise02, exercise03, exercise04, exercise05  # noqa: F401
