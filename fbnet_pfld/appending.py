"""Adding faces to a DATA_ROOT's list.txt: every crop under a name of its own (two sources, or one frame
listed twice, never share a crop file), a face already in the list not added again (a rerun, or a run after
a kill, changes nothing), one point count per list, and the list written whole (a kill leaves the previous
one)."""

from pathlib import Path

from fbnet_pfld.dataset import list_line
from fbnet_pfld.errors import DataError
from fbnet_pfld.sources import LABEL_TOKEN
from fbnet_pfld.writes import write_bytes, write_text


def points_in(line):
    """The point count of a list.txt line: path, 2K coordinates, 3 angles, an optional ``label=`` token."""
    tokens = [t for t in line.split() if not t.startswith(LABEL_TOKEN)]
    return (len(tokens) - 4) // 2


class ListAppender:
    """The lines of one list.txt: those already there (with ``append``) and the new ones."""

    def __init__(self, list_path, append):
        self.list_path = Path(list_path)
        text = self.list_path.read_text(encoding="utf-8") if append and self.list_path.is_file() else ""
        self.before = [line for line in text.splitlines() if line.strip()]
        self.present = set(self.before)
        self.taken = {line.split()[0] for line in self.before}
        self.count = points_in(self.before[0]) if self.before else None
        self.new = []
        self.already = 0

    def place(self, folder, stem, k, points, angles, label, data):
        """Write this face's crop (``data``: the encoded image) under a name of its own and list it; returns
        its relative path, or None when the very face (same line, same crop) is listed already."""
        if self.count is None:
            self.count = len(points)
        elif len(points) != self.count:
            raise DataError(f"{self.list_path}: holds {self.count}-point faces, and {stem} has {len(points)}; "
                            "one list takes one point count (write another --out)")
        root = self.list_path.parent.parent
        for n in range(1, 10_000):
            relative = f"{folder}/{stem}{'' if n == 1 else f'-{n}'}__{k}.jpg"
            line = list_line(relative, points, angles, label)
            if line in self.present and (root / relative).is_file() and (root / relative).read_bytes() == data:
                self.already += 1
                return None
            if relative not in self.taken:
                self.taken.add(relative)
                write_bytes(root / relative, data)
                self.new.append(line)
                return relative
        raise DataError(f"{self.list_path}: 10,000 faces named {stem}; rename the source files")

    def write(self):
        write_text(self.list_path, "".join(line + "\n" for line in self.before + self.new))
