"""Print the table of settings made from `peelqa.config.Settings`, or write it into a file
between the markers `<!-- settings -->` and `<!-- /settings -->` (`make docs`)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from peelqa.config import settings_table

START, END = "<!-- settings -->", "<!-- /settings -->"


def with_table(text: str) -> str:
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"no {START} ... {END} markers to write the table between")
    return pattern.sub(lambda _: f"{START}\n{settings_table()}\n{END}", text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--write", type=Path, help="file to update in place (e.g. README.md)")
    a = p.parse_args()
    if a.write is None:
        sys.stdout.write(settings_table() + "\n")
        return
    a.write.write_text(with_table(a.write.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main()
