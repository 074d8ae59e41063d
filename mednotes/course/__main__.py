"""Command line: ``python -m mednotes.course student exercises/ --out student/ [--force]``."""

from __future__ import annotations

import argparse
import sys

from mednotes.course.student import write_student_versions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mednotes.course",
                                     description="Course tools for instructors.")
    commands = parser.add_subparsers(dest="command", required=True)
    student = commands.add_parser("student", help="write student versions of exercise notebooks")
    student.add_argument("source", help="an instructor .ipynb or a folder of them")
    student.add_argument("--out", required=True, help="folder for the student notebooks")
    student.add_argument("--force", action="store_true", help="overwrite existing notebooks")
    args = parser.parse_args(argv)
    try:
        written = write_student_versions(args.source, args.out, force=args.force)
    except (ValueError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
