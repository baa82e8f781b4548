"""The Python API: ``Landmarker(model)(image)`` on a generated face, a real one and an empty image."""

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

import fbnet_pfld
from fbnet_pfld import Face, Landmarker
from fbnet_pfld.errors import DataError
from fbnet_pfld.prepare import read_pts
from fbnet_pfld.synthetic import draw_face, random_pose

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "released" / "subnet.onnx"
REAL_FACES = ROOT.parent / "shared" / "data" / "faces68" / "val"


@pytest.fixture(scope="module")
def landmarker():
    return Landmarker(MODEL)


def test_a_generated_face_with_a_box(landmarker):
    rng = np.random.default_rng(0)
    image = cv2.resize(draw_face(random_pose(rng), rng), (224, 224))
    faces = landmarker(image, box=(40, 40, 184, 184))
    assert len(faces) == 1 and isinstance(faces[0], Face)
    face = faces[0]
    assert face.landmarks.shape == (68, 2) and face.landmarks.dtype == np.float64
    assert np.isfinite(face.landmarks).all()
    inside = (face.landmarks > 0) & (face.landmarks < 224)
    assert inside.all(), "points of a face in the middle of the image stay in the image"


def test_an_image_without_a_face_gives_no_faces(landmarker, tmp_path):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 128, np.uint8))
    assert landmarker(blank) == []
    assert landmarker(str(blank)) == []


@pytest.mark.skipif(not REAL_FACES.is_dir(), reason="needs ../shared/data/faces68")
def test_a_real_face_from_the_detector_is_close_to_its_annotation(landmarker):
    image_path = sorted(REAL_FACES.glob("*.jpg"))[0]
    truth = read_pts(image_path.with_suffix(".pts"))
    faces = landmarker(str(image_path))
    assert faces, f"no face found in {image_path.name}"
    best = min(faces, key=lambda f: np.linalg.norm(f.landmarks.mean(0) - truth.mean(0)))
    inter_ocular = np.linalg.norm(truth[36] - truth[45])
    nme = np.linalg.norm(best.landmarks - truth, axis=1).mean() / inter_ocular
    assert nme < 0.15, f"NME {nme:.3f} on {image_path.name}"
    assert 0 < best.score <= 1 and best.box.shape == (4,)


def test_flip_averages_with_the_mirror_image(landmarker):
    rng = np.random.default_rng(1)
    image = cv2.resize(draw_face(random_pose(rng), rng), (224, 224))
    plain = landmarker(image, box=(40, 40, 184, 184))[0].landmarks
    flipped = Landmarker(MODEL, flip=True)(image, box=(40, 40, 184, 184))[0].landmarks
    assert flipped.shape == plain.shape and not np.allclose(flipped, plain)
    assert np.abs(flipped - plain).mean() < 10  # pixels: the same face, a steadier answer


def test_the_package_exposes_only_its_api():
    assert set(fbnet_pfld.__all__) == {"Face", "Landmarker", "__version__"}
    with pytest.raises(AttributeError):
        fbnet_pfld.NotThere  # noqa: B018


PHOTO = Path(__file__).resolve().parents[1] / "fbnet_pfld" / "data" / "astronaut.jpg"


def test_the_api_converts_grayscale_bgra_16_bit_and_float_images():
    landmarker = Landmarker(Path(__file__).resolve().parents[1] / "released" / "subnet.onnx")
    bgr = cv2.imread(str(PHOTO))
    reference = landmarker(bgr)[0].landmarks
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    for image in (gray, gray[:, :, None], cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA), bgr.astype(np.uint16) * 257,
                  bgr.astype(np.float32) / 255, bgr.astype(np.int64)):
        faces = landmarker(image)
        assert len(faces) == 1, image.shape
        assert np.abs(faces[0].landmarks - reference).mean() < 3.0, (image.dtype, image.shape)


@pytest.mark.parametrize("image, words", [
    (np.zeros((3, 120, 160), np.uint8), "channels-first"),
    (np.zeros((2, 120, 160, 3), np.uint8), "shape (2, 120, 160, 3)"),
    (np.full((120, 160, 3), 200.0), "in [0, 1]"),
    (np.full((120, 160, 3), np.nan, np.float32), "in [0, 1]"),
    (np.zeros((120, 160, 3), bool), "bool"),
    (np.zeros((0, 0, 3), np.uint8), "too small"),
    (np.zeros((10, 20000, 3), np.uint8), "too small"),
    (np.zeros((120, 160, 2), np.uint8), "shape (120, 160, 2)"),
    ([[1, 2], [3, 4]], "got list"),
])
def test_the_api_refuses_what_it_cannot_read_naming_shape_and_dtype(image, words):
    landmarker = Landmarker(Path(__file__).resolve().parents[1] / "released" / "subnet.onnx")
    with pytest.raises(DataError, match=re.escape(words)):
        landmarker(image)
