"""``python -m labkit.homework assign|grade ...``: the homework tools. Homework (book/homework.md)."""
from __future__ import annotations

import sys

USAGE = """usage: python -m labkit.homework {assign,grade} ...

  assign   generate the student and instructor notebooks from homework/source
  grade    grade a folder of submissions with the hidden cases (grades.csv, report.md)

python -m labkit.homework COMMAND --help tells more."""


def main(argv: list[str] | None = None) -> int:
    """Run the homework tool named by the first argument with the rest."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if argv[:1] not in (["assign"], ["grade"]):
        print(USAGE, file=sys.stderr)
        return 2
    if argv[0] == "grade":
        from labkit.homework.grade import main as grade
        return grade(argv[1:])
    from labkit.homework.assign import main as assign
    return assign(argv[1:], prog="python -m labkit.homework assign")


if __name__ == "__main__":
    sys.exit(main())
