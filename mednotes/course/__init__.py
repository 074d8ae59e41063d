"""Exercise support: immediate checks for students, student versions for instructors.

``check(name, answer)`` compares an answer with the library's reference and prints a verdict;
``python -m mednotes.course student exercises/ --out DIR`` writes the student notebooks.
"""

from mednotes.course.checks import CHECKS, Verdict, check
from mednotes.course.student import make_student_notebook, write_student_versions

__all__ = ["CHECKS", "Verdict", "check", "make_student_notebook", "write_student_versions"]
