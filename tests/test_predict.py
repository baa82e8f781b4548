"""predict.py as a user runs it: every face of a photo, the JSON format, output names, video tracking."""

import json

import cv2
import numpy as np
import pytest
import torch
from conftest import ROOT

import predict
from fbnet_pfld.crops import centred_crop_matrix, landmark_box, warp_points
from fbnet_pfld.dataset import INPUT_SIZE
from fbnet_pfld.deploy import export_onnx
from fbnet_pfld.detector import Calibration, detect_faces
from fbnet_pfld.errors import DataError
from fbnet_pfld.landmarker import DEFAULT_CALIBRATION, Landmarker, LandmarkPredictor
from fbnet_pfld.points import flip_permutation
from fbnet_pfld.prepare import read_pts

SHARED = ROOT.parent / "shared" / "data"
CALIBRATION = Calibration.load(DEFAULT_CALIBRATION)


class ConstantLandmarks(torch.nn.Module):
    """A crafted model answering fixed crop coordinates: tests the crop and its inverse, not learning."""

    def __init__(self, landmarks):
        super().__init__()
        self.register_buffer("landmarks", torch.tensor(landmarks, dtype=torch.float32).reshape(1, -1))

    def forward(self, x):
        return self.landmarks.expand(x.shape[0], -1) + 0 * x.mean(dim=(1, 2, 3), keepdim=True).flatten(1)[:, :1]


class BrightSpot(torch.nn.Module):
    """An oracle that finds a bright disc: its landmarks are a fixed ring around the crop's brightness
    centroid. It localises, so a tracker driving it must follow a moving disc."""

    def __init__(self, ring):
        super().__init__()
        self.register_buffer("ring", torch.tensor(ring, dtype=torch.float32).reshape(1, -1, 2))
        grid = (torch.arange(INPUT_SIZE, dtype=torch.float32) + 0.5) / INPUT_SIZE
        self.register_buffer("xs", grid.reshape(1, 1, -1))
        self.register_buffer("ys", grid.reshape(1, -1, 1))

    def forward(self, x):
        weight = torch.relu(x.mean(dim=1) - 0.5)
        total = weight.sum(dim=(1, 2)) + 1e-6
        cx = (weight * self.xs).sum(dim=(1, 2)) / total
        cy = (weight * self.ys).sum(dim=(1, 2)) / total
        centre = torch.stack([cx, cy], dim=1).unsqueeze(1)
        return (self.ring + centre).flatten(1)


def onnx_of(module, path):
    export_onnx(module.eval(), (torch.rand(1, 3, 112, 112),), path, ["input"], ["landmarks"], dynamic_batch=True)
    return path


@pytest.mark.skipif(not (SHARED / "faces68/val").is_dir(), reason="needs ../shared/data/faces68")
def test_a_photo_of_several_faces_gives_one_entry_per_face(tmp_path):
    files = sorted((SHARED / "faces68/val").glob("*.jpg"))[10:13]
    canvas = np.full((420, 1200, 3), 90, np.uint8)
    truths = []
    for i, path in enumerate(files):
        image, points = cv2.imread(str(path)), read_pts(path.with_suffix(".pts"))
        scale = 220 / max(image.shape[:2])
        image = cv2.resize(image, None, fx=scale, fy=scale)
        x, y = 60 + 400 * i, 100
        canvas[y:y + image.shape[0], x:x + image.shape[1]] = image
        truths.append(points * scale + [x, y])
    cv2.imwrite(str(tmp_path / "group.jpg"), canvas)
    model = onnx_of(ConstantLandmarks(np.full((68, 2), 0.5)), tmp_path / "m.onnx")
    predict.main([str(tmp_path / "group.jpg"), "--model", str(model), "--out", str(tmp_path / "out")])
    result = json.loads((tmp_path / "out/group_jpg.json").read_text())
    assert result["image"].endswith("group.jpg") and len(result["faces"]) >= 3
    for truth in truths:  # every face has an entry whose box covers it
        centre, extent = landmark_box(truth)
        face = min(result["faces"], key=lambda f: np.linalg.norm(np.reshape(f["box"], (2, 2)).mean(0) - centre))
        assert np.linalg.norm(np.reshape(face["box"], (2, 2)).mean(0) - centre) < 0.3 * extent.max()
        assert len(face["landmarks"]) == 68 and 0 < face["score"] <= 1
    assert (tmp_path / "out/group_jpg_landmarks.png").stat().st_size > 10_000


@pytest.mark.skipif(not (SHARED / "samples106").is_dir(), reason="needs ../shared/data/samples106")
def test_predict_draws_points_at_annotated_positions(tmp_path):
    for pts in sorted((SHARED / "samples106").glob("*.pts")):
        truth = read_pts(pts)
        normalised = warp_points(truth, centred_crop_matrix(truth)) / INPUT_SIZE
        model = onnx_of(ConstantLandmarks(normalised), tmp_path / f"{pts.stem}.onnx")
        centre, extent = landmark_box(truth)
        box = [*(centre - extent / 2), *(centre + extent / 2)]
        predict.main([str(pts.with_suffix(".jpg")), "--model", str(model), "--box", *map(str, box), "--refine", "0",
                      "--out", str(tmp_path / "out")])
        result = json.loads((tmp_path / "out" / f"{pts.stem}_jpg.json").read_text())
        assert np.abs(np.array(result["faces"][0]["landmarks"]) - truth).max() < 0.02


@pytest.mark.skipif(not (SHARED / "faces68/val").is_dir(), reason="needs ../shared/data/faces68")
def test_the_calibrated_detector_box_lands_on_the_landmark_box():
    errors = []
    for path in sorted((SHARED / "faces68/val").glob("*.jpg"))[:20]:
        truth = read_pts(path.with_suffix(".pts"))
        detection = detect_faces(cv2.imread(str(path)))[0]
        centre, side = CALIBRATION.landmark_box(detection.box)
        true_centre, extent = landmark_box(truth)
        errors.append((np.linalg.norm(centre - true_centre) / extent.max(), side / extent.max()))
    errors = np.array(errors)
    assert np.median(errors[:, 0]) < 0.08 and 0.85 < np.median(errors[:, 1]) < 1.15


def test_no_face_and_broken_images(tmp_path):
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((200, 200, 3), 127, np.uint8))
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    model = onnx_of(ConstantLandmarks(np.full((68, 2), 0.5)), tmp_path / "m.onnx")
    with pytest.raises(SystemExit, match="1 of 2 image"):  # the broken one; the face-less one is not a failure
        predict.main([str(tmp_path), "--model", str(model), "--out", str(tmp_path / "out")])
    assert json.loads((tmp_path / "out" / "blank_png.json").read_text())["faces"] == []
    landmarker = Landmarker(model)
    assert predict.predict_image(landmarker, tmp_path / "blank.png")[1] == []
    with pytest.raises(DataError, match="broken.jpg: cannot read image$"):
        predict.predict_image(landmarker, tmp_path / "broken.jpg", box=[0, 0, 50, 50])
    with pytest.raises(DataError, match="gone.jpg: no such image file$"):
        landmarker(str(tmp_path / "gone.jpg"))


def moving_disc_video(path, frames=24, size=(320, 240)):
    """A bright disc gliding right and down over a dark, textured background; returns its centres."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, size)
    rng = np.random.default_rng(0)
    background = rng.integers(0, 60, (size[1], size[0], 3), dtype=np.uint8)
    centres = []
    for t in range(frames):
        frame = background.copy()
        centre = (80 + 5 * t, 90 + 2 * t)
        cv2.circle(frame, centre, 28, (235, 235, 235), -1, cv2.LINE_AA)
        writer.write(frame)
        centres.append(centre)
    writer.release()
    return np.array(centres, np.float64)


def test_video_tracking_follows_a_moving_face(tmp_path):
    # A ring of radius 0.5 / 1.2 crops is the crop geometry's fixed point (crop side = 1.2 x its box).
    ring = 0.5 / 1.2 * np.stack([np.cos(np.linspace(0, 2 * np.pi, 68, endpoint=False)),
                            np.sin(np.linspace(0, 2 * np.pi, 68, endpoint=False))], axis=1)
    model = onnx_of(BrightSpot(ring), tmp_path / "spot.onnx")
    centres = moving_disc_video(tmp_path / "clip.mp4")
    x, y = centres[0]
    predict.main([str(tmp_path / "clip.mp4"), "--model", str(model), "--out", str(tmp_path / "out"), "--box",
                  str(x - 30), str(y - 30), str(x + 30), str(y + 30), "--redetect", "1000", "--smooth", "off"])
    frames = [json.loads(line) for line in (tmp_path / "out/clip_mp4.jsonl").read_text().splitlines()]
    assert len(frames) == len(centres)
    followed = np.array([np.mean(f["faces"][0]["landmarks"], axis=0) for f in frames])
    assert np.abs(followed - centres).max() < 4.0  # pixels: the points move with the disc (115 px in all)
    assert {f["faces"][0]["track"] for f in frames} == {0}
    capture = cv2.VideoCapture(str(tmp_path / "out/clip_mp4_landmarks.mp4"))
    assert capture.isOpened() and int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == len(centres)


def symmetric_ring(seed=0):
    """68 offsets whose mirror image (x -> -x, left and right points swapped) is the same set."""
    ring = np.random.default_rng(seed).uniform(-0.2, 0.2, (68, 2))
    perm = flip_permutation(68)
    for i, j in enumerate(perm):
        if j == i:
            ring[i, 0] = 0.0
        elif j > i:
            ring[j] = [-ring[i, 0], ring[i, 1]]
    return ring


def test_flip_maps_the_mirrored_answer_back(tmp_path):
    crops = [np.random.default_rng(k).integers(0, 255, (INPUT_SIZE, INPUT_SIZE, 3), dtype=np.uint8) for k in range(3)]
    # A model that does not look at the image: the flipped answer is the mean of c and c mirrored back.
    constant = np.random.default_rng(1).uniform(0.1, 0.9, (68, 2))
    model = onnx_of(ConstantLandmarks(constant), tmp_path / "constant.onnx")
    flipped = LandmarkPredictor(model, flip=True)(crops).reshape(3, 68, 2)
    for i, j in [(0, 16), (36, 45), (48, 54), (30, 30)]:  # jaw ends, outer eye corners, mouth corners, nose tip
        expected = (constant[i] + [1 - constant[j, 0], constant[j, 1]]) / 2
        assert np.allclose(flipped[:, i], expected, atol=1e-5)
    # A model that localises a bright spot with a mirror-symmetric ring is mirror-equivariant: flipping
    # must not move its answer, wherever the spot is (mirroring the wrong axis would).
    image = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    cv2.circle(image, (30, 70), 9, (255, 255, 255), -1)
    oracle = onnx_of(BrightSpot(symmetric_ring()), tmp_path / "oracle.onnx")
    plain = LandmarkPredictor(oracle)([image])
    assert np.abs(LandmarkPredictor(oracle, flip=True)([image]) - plain).max() < 1e-4
    assert np.abs(plain.reshape(68, 2).mean(0) - [30.5 / INPUT_SIZE, 70.5 / INPUT_SIZE]).max() < 0.02


@pytest.mark.parametrize("num_points,pairs", [(98, [(60, 72), (96, 97), (54, 54)]),
                                              (106, [(66, 79), (104, 105), (60, 60)])])
def test_flip_works_for_the_98_and_106_point_orders(tmp_path, num_points, pairs):
    """WFLW and LaPa models take --flip too: outer eye corners and pupils swap, the nose stays."""
    constant = np.random.default_rng(2).uniform(0.1, 0.9, (num_points, 2))
    model = onnx_of(ConstantLandmarks(constant), tmp_path / f"constant{num_points}.onnx")
    crop = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    flipped = LandmarkPredictor(model, flip=True)([crop]).reshape(num_points, 2)
    for i, j in pairs:
        assert np.allclose(flipped[i], (constant[i] + [1 - constant[j, 0], constant[j, 1]]) / 2, atol=1e-5)


def test_flip_without_a_point_map_is_one_clear_error(tmp_path):
    model = onnx_of(ConstantLandmarks(np.full((5, 2), 0.5)), tmp_path / "five.onnx")
    with pytest.raises(DataError, match="five.onnx: --flip needs a left/right map.*this model has 5"):
        LandmarkPredictor(model, flip=True)
    cv2.imwrite(str(tmp_path / "face.png"), np.full((200, 200, 3), 127, np.uint8))
    with pytest.raises(SystemExit) as exit_info:
        predict.main([str(tmp_path / "face.png"), "--model", str(model), "--flip", "--box", "10", "10", "90", "90",
                      "--out", str(tmp_path / "out")])
    message = str(exit_info.value.code)  # what the interpreter prints, exit status 1
    assert message.startswith("error: ") and "five.onnx: --flip needs" in message and "\n" not in message
    assert not (tmp_path / "out").exists()


PHOTO = ROOT / "fbnet_pfld" / "data" / "astronaut.jpg"  # NASA's portrait of Eileen Collins, public domain


def test_the_bundled_photo_gets_68_points_on_its_face_and_a_second_run_keeps_the_first(tmp_path):
    out = tmp_path / "out"
    for _ in range(2):
        predict.main([str(PHOTO), "--model", str(ROOT / "released/subnet.onnx"), "--out", str(out)])
    first, second = (json.loads((out / name).read_text()) for name in ("astronaut_jpg.json", "astronaut_jpg_2.json"))
    assert first == second and len(first["faces"]) == 1
    face = first["faces"][0]
    x1, y1, x2, y2 = face["box"]
    points = np.array(face["landmarks"])
    assert points.shape == (68, 2) and 60 < x2 - x1 < 200 and face["score"] > 0.5
    margin = 0.1 * (x2 - x1)  # the detector's box, the points a little beyond it at most
    assert ((points >= [x1 - margin, y1 - margin]) & (points <= [x2 + margin, y2 + margin])).all()
    left, right = points[36], points[45]  # outer eye corners: level, apart, above the mouth
    assert abs(left[1] - right[1]) < 0.2 * (right[0] - left[0]) and points[62, 1] > left[1]
    assert (out / "astronaut_jpg_landmarks.png").is_file() and (out / "astronaut_jpg_2_landmarks.png").is_file()


def test_predict_with_the_supernet_says_which_file_to_use(tmp_path):
    with pytest.raises(SystemExit, match="a search's supernet, not a landmark model: use .*subnet.onnx"):
        predict.main([str(PHOTO), "--model", str(ROOT / "released/supernet.pth"), "--out", str(tmp_path)])
