"""tools.dev_split holds out a fixed share of one collection as a test split, sharing the images."""

import pytest

from fbnet_pfld.dataset import LandmarkDataset, data_paths
from fbnet_pfld.synthetic import make_synthetic_dataset
from tools import dev_split


def test_a_seeded_share_of_one_collection_becomes_the_test_split(tmp_path):
    root = make_synthetic_dataset(tmp_path / "d", train=60, test=4)
    list_path = data_paths(root)[0]
    lines = list_path.read_text().splitlines()
    renamed = [line.replace("imgs/face", "imgs/helen_face", 1) if k % 2 else line for k, line in enumerate(lines)]
    for line, new in zip(lines, renamed):
        old, path = (root / line.split()[0]), (root / new.split()[0])
        if old != path:
            old.rename(path)
    list_path.write_text("".join(f"{line}\n" for line in renamed))
    train, dev = dev_split.split(root, "helen", 0.3, 0, tmp_path / "dev")
    assert train + dev == 60 and 3 <= dev <= 18
    held = LandmarkDataset(data_paths(tmp_path / "dev")[1], tmp_path / "dev").samples
    kept = LandmarkDataset(data_paths(tmp_path / "dev")[0], tmp_path / "dev").samples
    assert all(s.image.name.startswith("helen_") for s in held)
    assert not {s.image.name for s in held} & {s.image.name for s in kept}
    assert dev_split.split(root, "helen", 0.3, 0, tmp_path / "again") == (train, dev), "the draw is fixed"
    with pytest.raises(Exception, match="no face of the collection 'lfw'"):
        dev_split.split(root, "lfw", 0.3, 0, tmp_path / "none")
