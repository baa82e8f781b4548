import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from fbnet_pfld.crops import crop_face, face_crop_matrix, hflip, warp_points
from fbnet_pfld.dataset import LandmarkDataset, ShardedSampler, parse_list_file, split_weight_arch, write_list_file
from fbnet_pfld.errors import DataError
from fbnet_pfld.headpose import euler_angles
from fbnet_pfld.metrics import landmark_metrics
from fbnet_pfld.points import EYE_CORNERS, FACE_3D, FLIP_PAIRS, POSE_POINTS, flip_permutation
from fbnet_pfld.prepare import main as prepare_main
from fbnet_pfld.prepare import read_jd106, read_pts, read_wflw, train_crop_matrix
from fbnet_pfld.synthetic import make_synthetic_dataset, template

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def write_dataset(root, rows, size=112):
    """rows: (name, landmarks (K,2), angles) -> root/train_data/{imgs,list.txt}."""
    (root / "train_data" / "imgs").mkdir(parents=True, exist_ok=True)
    entries = []
    for name, landmarks, angles in rows:
        cv2.imwrite(str(root / "train_data" / "imgs" / name), np.full((size, size, 3), 128, np.uint8))
        entries.append((f"train_data/imgs/{name}", landmarks, angles))
    write_list_file(root / "train_data" / "list.txt", entries)
    return root / "train_data" / "list.txt"


def rows(count, k=5):
    rng = np.random.default_rng(0)
    return [(f"f{i}__0.png", rng.random((k, 2)), (1.0, 2.0, 3.0)) for i in range(count)]


def test_parse_reads_points_and_angles(tmp_path):
    list_path = write_dataset(tmp_path, rows(3, k=5))
    samples = parse_list_file(list_path)
    assert len(samples) == 3
    assert samples[0].landmarks.shape == (5, 2)
    assert np.allclose(samples[0].angles, [1, 2, 3])
    dataset = LandmarkDataset(list_path)
    image, landmarks, angles = dataset[0]
    assert image.shape == (3, 112, 112) and image.dtype == torch.float32 and 0.49 < image.mean() < 0.51
    assert landmarks.shape == (10,) and angles.shape == (3,)


@pytest.mark.parametrize("mutate, message", [
    (lambda t: t[:-1], "expected an image path, 2K coordinates and 3 angles"),
    (lambda t: t[:3] + ["abc"] + t[4:], "'abc' is not a number"),
    (lambda t: t[:3] + ["nan"] + t[4:], "NaN or infinite"),
    (lambda t: ["train_data/imgs/missing.png"] + t[1:], "does not exist"),
    (lambda t: t[:1] + t[3:], "2 points, but 3 expected"),
])
def test_bad_lines_name_file_and_line(tmp_path, mutate, message):
    list_path = write_dataset(tmp_path, rows(3, k=3))
    lines = list_path.read_text().splitlines()
    lines[1] = " ".join(mutate(lines[1].split()))
    list_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=message) as error:
        parse_list_file(list_path)
    assert f"{list_path}:2:" in str(error.value)


def test_missing_list_file_says_whether_its_data_root_exists(tmp_path):
    with pytest.raises(DataError, match=r"no such list file \(.*nowhere does not exist: prepare.py makes"):
        parse_list_file(tmp_path / "nowhere/train_data/list.txt")
    (tmp_path / "root").mkdir()
    with pytest.raises(DataError, match=r"no such list file$"):
        parse_list_file(tmp_path / "root/train_data/list.txt")


def test_num_points_mismatch_and_bad_images(tmp_path):
    list_path = write_dataset(tmp_path, rows(2, k=3))
    with pytest.raises(DataError, match=r"list.txt:1: 3 points, but 68 expected"):
        parse_list_file(list_path, num_points=68)
    (tmp_path / "train_data/imgs/f0__0.png").write_bytes(b"not an image")
    cv2.imwrite(str(tmp_path / "train_data/imgs/f1__0.png"), np.zeros((100, 90, 3), np.uint8))
    dataset = LandmarkDataset(list_path)
    with pytest.raises(DataError, match=r"list.txt:1: cannot read image"):
        dataset[0]
    with pytest.raises(DataError, match=r"list.txt:2: image .* is 90x100; expected a square of at least 112x112"):
        dataset[1]


def test_crop_and_rotation_keep_landmarks_on_their_content():
    """Coloured dots on an image stay under their warped landmark after a rotated, shifted crop."""
    rng = np.random.default_rng(1)
    image = np.zeros((300, 400, 3), np.uint8)
    grid = np.stack(np.meshgrid(np.arange(4), np.arange(2)), -1).reshape(-1, 2)
    points = np.array([120.0, 100.0]) + grid * [50, 80] + rng.uniform(-5, 5, (8, 2))  # well apart
    colours = rng.integers(60, 255, (8, 3))
    for (x, y), colour in zip(points, colours):
        cv2.circle(image, (int(round(x)), int(round(y))), 4, tuple(int(c) for c in colour), -1)
    for _ in range(5):
        matrix = train_crop_matrix(points, rng)
        crop = crop_face(image, matrix)
        warped = warp_points(np.round(points), matrix)
        for (x, y), colour in zip(warped, colours):
            if 1 <= x < 111 and 1 <= y < 111:
                assert np.abs(crop[int(round(y)), int(round(x))].astype(int) - colour).max() <= 40


def test_face_crop_matrix_maps_centre_and_scale():
    matrix = face_crop_matrix((200, 150), 224, angle=30)
    assert np.allclose(warp_points([[200, 150]], matrix), [[56, 56]])
    ends = warp_points([[100, 150], [300, 150]], matrix)
    assert math.isclose(np.linalg.norm(ends[1] - ends[0]), 100, rel_tol=1e-9)


def test_flip_swaps_left_and_right_points_for_68():
    perm = flip_permutation(68)
    assert sorted(perm) == list(range(68)) and [perm[p] for p in perm] == list(range(68))
    assert perm[36] == 45 and perm[0] == 16 and perm[48] == 54 and perm[30] == 30 and perm[8] == 8
    assert len(FLIP_PAIRS[68]) == 29
    rng = np.random.default_rng(0)
    landmarks = rng.uniform(0.1, 0.9, (68, 2)).astype(np.float32)
    image = rng.integers(0, 255, (112, 112, 3), dtype=np.uint8)
    angles = np.array([5, 10, -7], np.float32)
    f_image, f_landmarks, f_angles = hflip(image, landmarks, angles, perm)
    assert np.allclose(f_landmarks[36], [1 - landmarks[45, 0], landmarks[45, 1]])
    assert np.allclose(f_landmarks[45], [1 - landmarks[36, 0], landmarks[36, 1]])
    assert np.allclose(f_angles, [5, -10, 7])
    assert np.array_equal(f_image[:, ::-1], image)
    back = hflip(f_image, f_landmarks, f_angles, perm)
    assert np.allclose(back[1], landmarks) and np.allclose(back[2], angles)
    # A symmetric face's left points stay on the left after a flip.
    symmetric = template(68) + 0.5
    assert np.allclose(hflip(image, symmetric, angles, perm)[1], symmetric)


MIDLINE = {98: [16, 51, 52, 53, 54, 57, 79, 85, 90, 94], 106: [16, 51, 52, 53, 54, 60, 87, 93, 98, 102]}


@pytest.mark.parametrize("num_points", [98, 106])
def test_flip_maps_of_98_and_106_points_follow_their_layouts(num_points):
    perm = flip_permutation(num_points)
    assert sorted(perm) == list(range(num_points)) and [perm[p] for p in perm] == list(range(num_points))
    assert [i for i in range(num_points) if perm[i] == i] == MIDLINE[num_points]  # chin, nose bridge, lips
    a, b = EYE_CORNERS[num_points]  # the NME normaliser's outer eye corners are partners
    assert perm[a] == b and perm[0] == 32 and perm[33] == 46


def similarity_residual(source, target):
    """Per-point distance left after the best rotation + scale + shift (no reflection: Kabsch's sign
    correction) of ``source`` onto ``target``."""
    a, b = source - source.mean(0), target - target.mean(0)
    u, s, vt = np.linalg.svd(a.T @ b)
    sign = np.sign(np.linalg.det(u @ vt))
    rotation = u @ np.diag([1, sign]) @ vt
    return np.linalg.norm((s[0] + sign * s[1]) / (a ** 2).sum() * a @ rotation - b, axis=1)


@pytest.mark.skipif(not (SHARED / "samples106").is_dir(), reason="needs ../shared/data")
@pytest.mark.parametrize("folder,num_points", [("samples98", 98), ("samples106", 106)])
def test_flip_maps_put_mirrored_real_faces_back_on_themselves(folder, num_points):
    """A mirrored face, its points swapped by the map, is the same face shape (up to pose); mirroring
    without the swap (the usual bug) puts the left eye where the right one is."""
    for path in sorted((SHARED / folder).glob("*.pts")):
        points = read_pts(path)
        mirrored = points * [-1, 1]
        inner = slice(33, None)  # the contour shifts most with pose
        swapped = similarity_residual(mirrored[flip_permutation(num_points)][inner], points[inner]).mean()
        unswapped = similarity_residual(mirrored[inner], points[inner]).mean()
        assert swapped < 0.5 * unswapped, path


def test_nme_hand_computed_68():
    gt = np.full((1, 68, 2), 0.5)
    gt[0, 36], gt[0, 45] = (0.2, 0.4), (0.8, 0.4)  # inter-ocular distance 0.6
    gt[0, 0], gt[0, 8] = (0.1, 0.1), (0.9, 0.9)  # landmark box 0.8 x 0.8
    pred = gt.copy()
    pred[0, 10] += (0.3, 0.4)  # one point 0.5 off
    metrics = landmark_metrics(pred, gt)
    assert math.isclose(metrics["nme_io"], 0.5 / 68 / 0.6, rel_tol=1e-9)
    assert math.isclose(metrics["nme_box"], 0.5 / 68 / 0.8, rel_tol=1e-9)
    assert metrics["fr_io"] == 0.0
    assert math.isclose(metrics["auc_io"], (0.1 - 0.5 / 68 / 0.6) / 0.1, rel_tol=1e-9)


def test_nme_hand_computed_106_and_failure_rate():
    a, b = EYE_CORNERS[106]
    gt = np.full((2, 106, 2), 0.5)
    gt[:, a], gt[:, b] = (0.3, 0.45), (0.7, 0.45)
    gt[:, 0], gt[:, 1] = (0.1, 0.2), (0.9, 0.7)  # box 0.8 x 0.5
    pred = gt.copy()
    pred[0] += 0.01  # every point off by 0.01*sqrt(2)
    pred[1, :, 0] += 0.2  # every point off by 0.2
    metrics = landmark_metrics(torch.tensor(pred).reshape(2, -1), torch.tensor(gt).reshape(2, -1))
    io = np.array([0.01 * math.sqrt(2), 0.2]) / 0.4
    assert math.isclose(metrics["nme_io"], io.mean(), rel_tol=1e-9)
    assert metrics["fr_io"] == 0.5  # the second image fails at 0.1
    assert math.isclose(metrics["nme_box"], (np.array([0.01 * math.sqrt(2), 0.2]) / math.sqrt(0.4)).mean(),
                        rel_tol=1e-9)


def test_nme_for_unknown_point_count_is_box_only():
    metrics = landmark_metrics(np.zeros((1, 10)), np.random.default_rng(0).random((1, 10)))
    assert "nme_io" not in metrics and metrics["nme_box"] > 0


def test_split_is_disjoint_repeatable_and_keeps_copies_together(tmp_path):
    points = np.array([[0.3, 0.4], [0.6, 0.4], [0.5, 0.7]])
    names = [(f"face{i}__{k}.png", points, (0, 0, 0)) for i in range(50) for k in range(3)]
    samples = parse_list_file(write_dataset(tmp_path, names))
    weight, arch = split_weight_arch(samples, 0.2, seed=3)
    assert set(weight).isdisjoint(arch) and len(weight) + len(arch) == len(samples)
    assert len(arch) == 30  # 10 of 50 faces, 3 copies each
    assert split_weight_arch(samples, 0.2, seed=3) == (weight, arch)
    assert split_weight_arch(samples, 0.2, seed=4) != (weight, arch)
    arch_faces = {samples[i].image.stem.split("__")[0] for i in arch}
    assert all(samples[i].image.stem.split("__")[0] not in arch_faces for i in weight)


def test_sharded_sampler_covers_indices_once_per_epoch():
    indices = list(range(100, 137))
    shards = [list(ShardedSampler(indices, True, 5, rank, 3)) for rank in range(3)]
    assert all(len(s) == 13 for s in shards)
    assert set().union(*shards) == set(indices)
    sampler = ShardedSampler(indices, True, 5)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first and sorted(sampler) == sorted(first)


def test_augmentation_is_repeatable_per_epoch(tmp_path):
    make_synthetic_dataset(tmp_path, num_points=68, train=4, test=2, seed=0)
    dataset = LandmarkDataset(tmp_path / "train_data/list.txt", augment=True, seed=7)
    a = dataset[1]
    assert all(torch.equal(x, y) for x, y in zip(a, dataset[1]))
    changed = False
    for epoch in range(1, 6):
        dataset.set_epoch(epoch)
        changed |= not torch.equal(dataset[1][0], a[0])
    assert changed


def project(points3d, rvec):
    camera = np.array([[112, 0, 56], [0, 112, 56], [0, 0, 1]], np.float64)
    projected, _ = cv2.projectPoints(points3d, np.asarray(rvec, np.float64), np.array([0, 0, 40.0]), camera, None)
    return projected.reshape(-1, 2)


@pytest.mark.parametrize("yaw", [0.0, 20.0, -30.0])
def test_euler_angles_recover_a_known_yaw(yaw):
    points = np.zeros((68, 2))
    points[POSE_POINTS[68]] = project(FACE_3D, [0, math.radians(yaw), 0])
    pitch, got_yaw, roll = euler_angles(points)
    assert abs(got_yaw - yaw) < 0.5 and abs(pitch) < 0.5 and abs(roll) < 0.5


def write_pts(path, points):
    body = "\n".join(f"{x:.3f} {y:.3f}" for x, y in points)
    path.write_text(f"version: 1\nn_points: {len(points)}\n{{\n{body}\n}}\n")


def test_prepare_pts_folder_end_to_end(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    base = template(68) * 120 + 100
    for i in range(3):
        cv2.imwrite(str(raw / f"img{i}.jpg"), np.random.default_rng(i).integers(0, 255, (220, 200, 3), np.uint8))
        write_pts(raw / f"img{i}.pts", base + i)
    out = tmp_path / "out"
    prepare_main(["--train", str(raw), "--test", str(raw), "--out", str(out), "--copies", "4"])
    train = LandmarkDataset(out / "train_data/list.txt", data_root=out)
    test = LandmarkDataset(out / "test_data/list.txt", data_root=out)
    assert len(train) == 12 and len(test) == 3 and train.num_points == 68
    landmarks = np.stack([s.landmarks for s in train.samples])
    assert landmarks.min() >= 0 and landmarks.max() <= 1
    # A test crop is the 1.2x square around the landmark box: the box spans 1/1.2 of the crop.
    extent = test.samples[0].landmarks.max(0) - test.samples[0].landmarks.min(0)
    assert math.isclose(extent.max(), 1 / 1.2, rel_tol=1e-4)


def test_read_pts_errors(tmp_path):
    path = tmp_path / "bad.pts"
    path.write_text("version: 1\nn_points: 3\n{\n1 2\n3 x\n}\n")
    with pytest.raises(DataError, match=r"bad.pts:5: expected 'x y'"):
        read_pts(path)
    path.write_text("version: 1\nn_points: 3\n{\n1 2\n}\n")
    with pytest.raises(DataError, match="n_points says 3 but 1"):
        read_pts(path)


def test_read_jd106_and_wflw_annotations(tmp_path):
    coords = " ".join(str(v) for v in range(212))
    (tmp_path / "bbox_landmark.txt").write_text(f"a.jpg 1 2 3 4 {coords}\n")
    faces = read_jd106(tmp_path / "bbox_landmark.txt", tmp_path)
    assert faces[0].points.shape == (106, 2) and faces[0].points[1].tolist() == [2, 3]
    wflw = " ".join(str(v) for v in range(196)) + " 1 2 3 4 0 0 0 0 0 0 folder/b.jpg"
    (tmp_path / "list_98pt.txt").write_text(wflw + "\n" + wflw[:-20] + "\n")
    with pytest.raises(DataError, match=r"list_98pt.txt:2: expected 207 tokens"):
        read_wflw(tmp_path / "list_98pt.txt", tmp_path)


@pytest.mark.parametrize("num_points", [106, 98, 68])
def test_synthetic_dataset_loads_for_any_point_count(tmp_path, num_points):
    make_synthetic_dataset(tmp_path, num_points=num_points, train=3, test=2)
    dataset = LandmarkDataset(tmp_path / "test_data/list.txt")
    assert dataset.num_points == num_points and len(dataset) == 2
    assert np.all(np.stack([s.landmarks for s in dataset.samples]) > 0)


def raw_faces(folder, seeds, points=68):
    """A .pts folder of faces named img0, img1, ... (random images, the template's points, shifted by seed)."""
    folder.mkdir()
    for i, seed in enumerate(seeds):
        cv2.imwrite(str(folder / f"img{i}.jpg"), np.random.default_rng(seed).integers(0, 255, (220, 200, 3), np.uint8))
        write_pts(folder / f"img{i}.pts", (template(68) * 120 + 100 + seed)[:points])
    return folder


def test_append_gives_every_crop_its_own_name_and_adds_no_face_twice(tmp_path):
    """Two sources with the same file names each keep their crops; appending a source again (a rerun, or a
    run after a kill) adds nothing; every line points at its own face's crop."""
    first, second = raw_faces(tmp_path / "a", [0, 1]), raw_faces(tmp_path / "b", [5, 6])
    out = tmp_path / "out"
    prepare_main(["--train", str(first), "--out", str(out)])
    for _ in range(2):
        prepare_main(["--train", str(second), "--out", str(out), "--append"])
    lines = (out / "train_data/list.txt").read_text().splitlines()
    paths = [line.split()[0] for line in lines]
    assert len(lines) == 4 and len(set(paths)) == 4
    assert paths[2:] == ["train_data/imgs/img0-2__0.jpg", "train_data/imgs/img1-2__0.jpg"]
    crops = [cv2.imread(str(out / p)) for p in paths]
    assert all(not np.array_equal(crops[i], crops[j]) for i in range(4) for j in range(i))
    prepare_main(["--train", str(first), "--out", str(out), "--append"])
    assert (out / "train_data/list.txt").read_text().splitlines() == lines


def test_append_refuses_another_point_count_and_keeps_the_list(tmp_path):
    out = tmp_path / "out"
    prepare_main(["--train", str(raw_faces(tmp_path / "a", [0])), "--out", str(out)])
    before = (out / "train_data/list.txt").read_text()
    with pytest.raises(SystemExit, match="holds 68-point faces, and img0 has 5"):
        prepare_main(["--train", str(raw_faces(tmp_path / "b", [1], points=5)), "--out", str(out), "--append"])
    assert (out / "train_data/list.txt").read_text() == before
