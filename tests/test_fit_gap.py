import json
from pathlib import Path

import numpy as np
import pytest
import torch

from export import export_landmark_model, parity_images
from fbnet_pfld.dataset import Sample
from fbnet_pfld.models import Subnet
from fbnet_pfld.synthetic import make_synthetic_dataset
from tools import fit_gap

ARCH = ["gh_k3", "sep_k3", "mb_k5_res", "gh_k5", "mb_k3_e2_res"]


def samples(names):
    return [Sample(Path("imgs") / name, np.zeros((68, 2)), np.zeros(3), i + 1) for i, name in enumerate(names)]


def test_source_groups_split_by_prefix_only_when_the_names_carry_sources():
    names = ["helen_1__0.jpg", "ytf_a_1__0.jpg", "helen_2__0.jpg", "ytf_b_7__0.jpg", "ytf_b_8__0.jpg"]
    assert fit_gap.source_groups(samples(names)) == {"helen": [0, 2], "ytf": [1, 3, 4]}
    assert fit_gap.source_groups(samples([f"face{i:05d}__0.png" for i in range(5)])) == {}  # one source
    assert fit_gap.source_groups(samples([f"img{i}_0.png" for i in range(20)])) == {}  # names, not sources
    assert fit_gap.source_groups(samples(["a_1.png", "a_2.png", "b_1.png"])) == {}  # a source of one face
    assert fit_gap.source_groups(samples(["a_1.png", "a_2.png", "plain.png", "plain2.png"])) == {}  # unprefixed


def test_fit_gap_rows_score_train_its_sources_and_test(tmp_path):
    torch.manual_seed(0)
    root = make_synthetic_dataset(tmp_path / "data", num_points=68, train=10, test=6)
    # Give the training images two source prefixes, as faces68's helen_/ytf_ names do.
    listing = root / "train_data" / "list.txt"
    lines = listing.read_text().splitlines()
    renamed = []
    for i, line in enumerate(lines):
        old = line.split()[0]
        new = old.replace("face", "helen_face" if i < 4 else "ytf_face")
        (root / old).rename(root / new)
        renamed.append(line.replace(old, new, 1))
    listing.write_text("\n".join(renamed) + "\n")
    export_landmark_model(Subnet(ARCH, 68), tmp_path / "s.onnx", parity_images(count=2))

    rows = fit_gap.fit_gap([f"s={tmp_path / 's.onnx'}"], root, tmp_path)
    by_split = {row["split"]: row for row in rows}
    assert [row["split"] for row in rows] == ["train", "train: helen", "train: ytf", "test"]
    assert [row["faces"] for row in rows] == [10, 4, 6, 6]
    # Per-face means: the whole training split is the face-weighted mean of its sources.
    for key in ("nme_io", "nme_box"):
        assert by_split["train"][key] == pytest.approx(
            (4 * by_split["train: helen"][key] + 6 * by_split["train: ytf"][key]) / 10, rel=1e-9)
    assert by_split["train"]["nme_box"] != by_split["test"]["nme_box"]
    table = fit_gap.markdown(rows)
    ratio = by_split["test"]["nme_io"] / by_split["train"]["nme_io"]
    assert f"| s | train | 10 | {100 * by_split['train']['nme_io']:.2f} |" in table
    assert table.rstrip().endswith("| 1.00x |") and f"| {ratio:.2f}x |" in table
    fit_gap.main([f"s={tmp_path / 's.onnx'}", "--data_root", str(root), "--out", str(tmp_path / "gap")])
    assert (tmp_path / "gap.md").read_text() == table + "\n"
    assert json.loads((tmp_path / "gap.json").read_text()) == rows  # the same deterministic ONNX run


def test_fit_gap_missing_data_is_one_clear_line(tmp_path):
    with pytest.raises(SystemExit, match="no such list file"):
        fit_gap.main([f"{tmp_path / 's.onnx'}", "--data_root", str(tmp_path / "nowhere")])


def test_label_groups_split_by_label_source_only_when_there_are_several():
    faces = [s._replace(label=label) for s, label in zip(samples([f"f{i}.png" for i in range(4)]),
                                                        ["human", "teacher:dlib", "human", "machine"])]
    assert fit_gap.label_groups(faces) == {"label human": [0, 2], "label machine": [3], "label teacher:dlib": [1]}
    assert fit_gap.label_groups([s._replace(label="human") for s in faces]) == {}
