"""Exercise support: immediate checks for students, student versions for instructors.

``check(name, answer)`` compares an answer with the library's reference and prints a verdict;
``hint(name)`` gives the next, more concrete hint;
``python -m mednotes.course student exercises/ --out DIR`` writes the student notebooks.

Modules: :mod:`~mednotes.course.checks` (``check`` and its ``Verdict``),
:mod:`~mednotes.course.compare` (what a ``Check`` is and how answers are judged),
:mod:`~mednotes.course.registry` (``CHECKS``, gathered from one ``checks_<chapter>`` module per
chapter) and :mod:`~mednotes.course.student` (student versions).
"""

from mednotes.course.checks import CHECKS, CheckFailed, Verdict, check, hint
from mednotes.course.student import make_student_notebook, write_student_versions

__all__ = ["CHECKS", "CheckFailed", "Verdict", "check", "hint", "make_student_notebook",
           "write_student_versions"]
