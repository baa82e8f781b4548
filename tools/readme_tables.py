"""Keep the result tables of the README and docs/ the files the tools wrote, never hand copies.

A block of the README between ``<!-- from PATH -->`` and ``<!-- end -->`` (each on its own line) is
PATH's text (PATH relative to the README's folder, e.g. released/benchmark.md). After regenerating
released/, rewrite the blocks:

    python -m tools.readme_tables            # rewrite the blocks of README.md and docs/*.md from their files
    python -m tools.readme_tables --check    # list stale blocks and exit 1 (a test runs this)
"""

import re
import sys
from pathlib import Path

from fbnet_pfld.cli import Parser, exit_on_user_error
from fbnet_pfld.errors import DataError
from fbnet_pfld.writes import write_text

ROOT = Path(__file__).resolve().parents[1]
START = re.compile(r"^<!-- from (\S+) -->$")
END = "<!-- end -->"


def blocks(lines, readme):
    """(source path, first content line index, end marker index) of every block, in order."""
    found, open_block = [], None
    for index, line in enumerate(lines):
        start = START.match(line.strip())
        if start and open_block is None:
            open_block = (start.group(1), index + 1)
        elif start or (line.strip() == END and open_block is None):
            raise DataError(f"{readme}: line {index + 1}: {line.strip()!r} here needs a block's "
                            f"{'end' if start else 'start'} first")
        elif line.strip() == END:
            found.append((*open_block, index))
            open_block = None
    if open_block is not None:
        raise DataError(f"{readme}: line {open_block[1]}: block from {open_block[0]} has no {END!r}")
    return found


def synced(readme):
    """The README's text with every block replaced by its file's, and the blocks that differed as
    (line number, source)."""
    lines = Path(readme).read_text().splitlines()
    out, stale, position = [], [], 0
    for source, first, end in blocks(lines, readme):
        path = Path(readme).parent / source
        if not path.is_file():
            raise DataError(f"{readme}: line {first}: block from {source}, which does not exist")
        text = path.read_text().strip("\n").splitlines()
        if lines[first:end] != text:
            stale.append((first, source))
        out += lines[position:first] + text
        position = end
    out += lines[position:]
    return "\n".join(out) + "\n", stale


def parse_args(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("--readme", nargs="+", default=[str(p) for p in documents()],
                        help="Markdown files whose blocks to sync (default: README.md and docs/*.md)")
    parser.add_argument("--check", action="store_true", help="only list stale blocks; exit 1 if any")
    return parser.parse_args(argv)


def documents():
    """The README and every page of docs/: where result tables live."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def run(args):
    any_stale = False
    for readme in args.readme:
        text, stale = synced(readme)
        for line, source in stale:
            print(f"{readme}: line {line}: {'stale' if args.check else 'rewritten'} block from {source}")
        any_stale |= bool(stale)
        if not args.check:
            write_text(readme, text)
    return 1 if args.check and any_stale else 0


def main(argv=None):
    sys.exit(exit_on_user_error(run, parse_args(argv)))


if __name__ == "__main__":
    main()
