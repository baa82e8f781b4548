"""A development split of a training set, for choices that must not look at the test set: a seeded share of
one collection's faces (hand-labelled ones, so the choice is judged by annotators' points) becomes the test
split of a new DATA_ROOT whose training split is everything else. The images are shared, not copied (the new
root's train_data/imgs links to the old one's).

    python -m tools.dev_split --data data/faces_plus --collection helen --fraction 0.2 --out data/faces_dev
"""

import os
import zlib
from pathlib import Path

from fbnet_pfld.cli import Parser, exit_on_user_error
from fbnet_pfld.dataset import data_paths
from fbnet_pfld.errors import DataError
from fbnet_pfld.sources import source_of
from fbnet_pfld.writes import write_text


def in_dev(name, fraction, seed):
    """A fixed draw per face name: the same faces are held out on every machine."""
    return zlib.crc32(f"{seed}:{name}".encode()) % 10_000 < fraction * 10_000


def split(data, collection, fraction, seed, out):
    """Write OUT's lists; returns (training lines, dev lines)."""
    train_list = data_paths(data)[0]
    if not train_list.is_file():
        raise DataError(f"{train_list}: no such list file")
    lines = [line for line in train_list.read_text(encoding="utf-8").splitlines() if line.strip()]
    dev = [line for line in lines if source_of(line.split()[0]) == collection
           and in_dev(Path(line.split()[0]).stem, fraction, seed)]
    if not dev:
        raise DataError(f"{train_list}: no face of the collection {collection!r} drawn (of {len(lines)} lines)")
    held = set(dev)
    out = Path(out)
    if out.resolve() == Path(data).resolve():
        raise DataError(f"--out {out} is --data: write the split elsewhere")
    for part in ("train_data", "test_data"):
        (out / part).mkdir(parents=True, exist_ok=True)
    link = out / "train_data" / "imgs"
    if not link.exists():
        os.symlink(Path(data).resolve() / "train_data" / "imgs", link)
    write_text(out / "train_data" / "list.txt", "".join(f"{line}\n" for line in lines if line not in held))
    write_text(out / "test_data" / "list.txt", "".join(f"{line}\n" for line in dev))
    return len(lines) - len(dev), len(dev)


def main(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("--data", required=True, help="the DATA_ROOT to split")
    parser.add_argument("--collection", default="helen", help="the collection (file-name prefix) to draw from")
    parser.add_argument("--fraction", type=float, default=0.2, help="share of that collection held out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="the new DATA_ROOT")
    args = parser.parse_args(argv)
    if not 0 < args.fraction < 1:
        parser.error(f"--fraction must be within (0, 1), got {args.fraction}")
    train, dev = exit_on_user_error(split, args.data, args.collection, args.fraction, args.seed, args.out)
    print(f"{args.out}: {train} training lines, {dev} {args.collection} faces held out as its test split")


if __name__ == "__main__":
    main()
