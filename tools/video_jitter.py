"""Video steadiness against known truth: clips made from labelled photos (fbnet_pfld/clips.py: moving, still,
step and mouth), tracked as predict.py tracks a video, measured raw and through the One-Euro filter; optionally
dlib's predictor on its HOG box every frame. Prints a table; --choose picks the filter's parameters (cut-off,
beta, look-ahead) on these clips: the lowest jitter on moving clips with NME no worse than 1.05x raw and lag at
most 3 frames behind a step and behind the jaw's drop.

    python -m tools.video_jitter runs/helen_photos --faces 80 --choose            # choose on training faces
    python -m tools.video_jitter ../shared/data/faces68/val --out docs/results/video_jitter --dlib 40
"""

import contextlib
import io
import itertools
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

import predict
from fbnet_pfld.argtypes import positive_int
from fbnet_pfld.cli import Parser, exit_on_user_error
from fbnet_pfld.clips import lag, make_clip, nme, nmj
from fbnet_pfld.dataset import read_image
from fbnet_pfld.errors import DataError
from fbnet_pfld.landmarker import DEFAULT_CALIBRATION, Landmarker
from fbnet_pfld.prepare import read_pts_folder
from fbnet_pfld.smoothing import DEFAULT, OneEuroFilter, OneEuroParams, smooth_series
from fbnet_pfld.tracking import Lookahead, Tracker
from fbnet_pfld.writes import write_text

KINDS = {"moving": 60, "still": 40, "step": 30, "mouth": 30}  # frames per clip
LAGGED = ("step", "mouth")  # the kinds whose lag is measured
GRID = list(itertools.product((0.1, 0.3, 1.0, 2.0, 3.0, 5.0), (0.0, 4.0, 15.0, 30.0, 60.0, 120.0), (0, 1, 2)))


def follow(frames, truth, step, clock=None):
    """[T, K, 2] points of the tracked face nearest the truth, and its track id per frame (-1: none found);
    ``clock`` (a list) collects each step's seconds."""
    points, ids = [], []
    for frame, true in zip(frames, truth):
        started = time.perf_counter()
        faces = step(frame)
        if clock is not None:
            clock.append(time.perf_counter() - started)
        if not faces:
            points.append(points[-1] if points else np.full_like(true, np.nan))
            ids.append(-1)
            continue
        near = min(faces, key=lambda f: np.linalg.norm(np.mean(f["landmarks"], axis=0) - true.mean(axis=0)))
        points.append(np.asarray(near["landmarks"]))
        ids.append(near["track"])
    return np.array(points), np.array(ids)


def filtered(points, ids, params, fps=30.0):
    """The raw series through the filter, restarted where the track changes (as the tracker's filters are)."""
    out, start = points.copy(), 0
    for t in range(1, len(ids) + 1):
        if t == len(ids) or ids[t] != ids[start]:
            out[start:t] = smooth_series(points[start:t], params, fps)
            start = t
    return out


def filter_cost(records, params, clock):
    """The smoothing's seconds per face and frame as the tracker runs it (the One-Euro filter, then the
    look-ahead's averaging and records), and that as a share of a frame's tracking time (640x480)."""
    series = [r["raw"] for r in records if r["kind"] == "moving"][:20]
    seconds = frames = 0
    for raw in series:
        filt, lookahead = OneEuroFilter(params), Lookahead(params.lookahead)
        records_in = [{"track": 0, "score": 1.0, "landmarks": points.tolist()} for points in raw]
        started = time.perf_counter()
        for points, record in zip(raw, records_in):
            record["landmarks"] = filt(points).tolist()
            lookahead.push([record])
        lookahead.flush()
        seconds += time.perf_counter() - started
        frames += len(raw)
    return seconds / frames, seconds / frames / float(np.median(clock))


def predict_frame_cost(face, landmarker, params, frames=150, rounds=3):
    """predict.py's seconds a frame on a 640x480 video of one moving face (read, track, draw, write), with the
    smoothing and without, in interleaved rounds: {"on": median, "off": median}."""
    clip = make_clip(read_image(face.image, face.name), face.points, "moving", frames, seed=0)
    timings = {"on": [], "off": []}
    with tempfile.TemporaryDirectory() as tmp:
        video, out = Path(tmp) / "clip.mp4", Path(tmp) / "out"
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, clip.frames[0].shape[1::-1])
        for frame in clip.frames:
            writer.write(frame)
        writer.release()
        out.mkdir()
        for _ in range(rounds):
            for smooth in timings:
                args = predict.parse_args([str(video), "--smooth", smooth, "--min_cutoff", str(params.min_cutoff),
                                           "--beta", str(params.beta), "--lookahead", str(params.lookahead)])
                started = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):
                    predict.run_video(args, landmarker, out)
                timings[smooth].append((time.perf_counter() - started) / frames)
    return {name: float(np.median(values)) for name, values in timings.items()}


_WORKER = {}


def start_worker(model, calibration, dlib, landmarker=None):
    """A process's own landmarker (``landmarker`` when the caller has one) and dlib follower, one thread each:
    the faces are shared among processes."""
    cv2.setNumThreads(1)
    _WORKER.update(landmarker=landmarker or Landmarker(model, calibration=calibration),
                   dlib=DlibFollower() if dlib else None)


def face_records(index, face, with_dlib):
    """One face's records, one per clip kind (truth, raw tracked points and ids, dlib's points when asked), and
    its tracking steps' seconds."""
    landmarker, records, clock = _WORKER["landmarker"], [], []
    image = read_image(face.image, face.name)
    for kind, frames in KINDS.items():
        clip = make_clip(image, face.points, kind, frames, seed=index)
        tracker = Tracker(landmarker.faces, landmarker.calibration)
        raw, ids = follow(clip.frames, clip.truth, tracker.step, clock)
        entry = {"face": face.name, "kind": kind, "truth": clip.truth, "raw": raw, "ids": ids}
        if with_dlib:
            entry["dlib"] = follow(clip.frames, clip.truth, _WORKER["dlib"].step)[0]
        records.append(entry)
    return records, clock


def record_clips(faces, model, dlib_faces=0, clock=None, workers=1, landmarker=None):
    """Per face and clip kind: truth, raw tracked points and ids (and dlib's points on the first faces), from
    ``workers`` processes (each clip is seeded by its face's index: the same records whatever the count); one
    worker uses ``landmarker`` when given (the model loaded once)."""
    from fbnet_pfld.detector import hog_available

    use_dlib = bool(dlib_faces) and hog_available()
    jobs = list(zip(*[(i, face, use_dlib and i < dlib_faces) for i, face in enumerate(faces)]))
    setup = (str(model), DEFAULT_CALIBRATION, use_dlib)
    with contextlib.ExitStack() as stack:
        if workers > 1:
            pool = stack.enter_context(ProcessPoolExecutor(  # spawned: onnxruntime may hang in a forked child
                workers, mp_context=multiprocessing.get_context("spawn"), initializer=start_worker, initargs=setup))
            results = pool.map(face_records, *jobs)
        else:
            start_worker(*setup, landmarker)
            results = map(face_records, *jobs)
        records = []
        for face_entries, steps in tqdm(results, total=len(faces), desc="clips", unit="face"):
            records += face_entries
            if clock is not None:
                clock += steps
    return records


class DlibFollower:
    """dlib's 68-point predictor on its HOG box, every frame (no tracking), as its users run it."""

    def __init__(self):
        from fbnet_pfld.teachers import DlibTeacher

        self.teacher = DlibTeacher()

    def step(self, frame):
        import cv2

        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        rects = self.teacher.detector(rgb, 0)
        return [{"landmarks": np.array([(p.x, p.y) for p in self.teacher.predictor(rgb, r).parts()], np.float64),
                 "track": 0} for r in rects]


def summary(records, series):
    """{kind: (NME %, NMJ %, lag)} of one series name ('raw', 'dlib') or a params tuple (filtered)."""
    out = {}
    for kind in KINDS:
        rows = [r for r in records if r["kind"] == kind and (not isinstance(series, str) or series in r)]
        if not rows:
            continue
        named = isinstance(series, str)  # a recorded series is its own response; a filter's is the raw one
        delay = 0 if named else series.lookahead
        values = []
        for r in rows:
            points = r[series] if named else filtered(r["raw"], r["ids"], series)  # filtered once per clip
            response = r[series] if named else r["raw"]
            values.append((nme(points, r["truth"]), nmj(points, r["truth"]),
                           lag(points, r["truth"], delay, response) if kind in LAGGED else np.nan))
        values = np.array([v for v in values if np.isfinite(v[0])])
        out[kind] = (100 * values[:, 0].mean(), 100 * values[:, 1].mean(),
                     float(np.median(values[:, 2])) if kind in LAGGED else np.nan)
    return out


def choose(records):
    """The grid's parameters (cut-off, beta, look-ahead) with the lowest moving-clip jitter that keep NME <= 1.05x
    raw and the lag behind a step and behind the jaw's drop within 3 frames (a look-ahead's delay included)."""
    raw = summary(records, "raw")
    best = None
    for min_cutoff, beta, lookahead in tqdm(GRID, desc="parameters", unit="set"):
        params = OneEuroParams(min_cutoff, beta, lookahead=lookahead)
        got = summary(records, params)
        if got["moving"][0] <= 1.05 * raw["moving"][0] and max(got[kind][2] for kind in LAGGED) <= 3:
            if best is None or got["moving"][1] < best[1]["moving"][1]:
                best = (params, got)
    if best is None:
        raise DataError("no parameters of the grid keep NME within 1.05x and lag within 3 frames")
    return best[0]


def table(records, params):
    name = f"One-Euro {params.min_cutoff:g}/{params.beta:g}, look-ahead {params.lookahead}"
    rows = [("raw", summary(records, "raw")), (name, summary(records, params))]
    if any("dlib" in r for r in records):
        rows.append(("dlib, HOG box every frame", summary(records, "dlib")))
    lines = ["| points | NME io moving % | NMJ moving % | NME io still % | NMJ still % | lag, step (frames) "
             "| lag, jaw drop (frames) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, got in rows:
        lines.append(f"| {name} | {got['moving'][0]:.2f} | {got['moving'][1]:.3f} | {got['still'][0]:.2f} | "
                     f"{got['still'][1]:.3f} | {got['step'][2]:g} | {got['mouth'][2]:g} |")
    return "\n".join(lines)


def plot_corner(records, params, path, point=36):
    """One eye corner's path through the first moving and still clips: truth, raw and filtered."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, kind in zip(axes, ("moving", "still")):
        r = next(r for r in records if r["kind"] == kind)
        smooth = filtered(r["raw"], r["ids"], params)
        for series, label, style in ((r["truth"], "truth", "k-"), (r["raw"], "raw", "C1-"),
                                     (smooth, "One-Euro", "C0-")):
            ax.plot(series[:, point, 0], style, label=label, linewidth=1.2)
        ax.set_title(f"{kind} clip: eye corner {point}, x")
        ax.set_xlabel("frame (30 fps)")
        ax.set_ylabel("pixels")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("folder", help="photos with 300-W .pts files beside them")
    parser.add_argument("--faces", type=int, help="the first N faces (default: all)")
    parser.add_argument("--model", default="released/subnet.onnx")
    parser.add_argument("--choose", action="store_true", help="pick the filter's parameters on these clips")
    parser.add_argument("--dlib", type=int, default=0, help="also run dlib on the first N faces' clips")
    parser.add_argument("--out", help="write OUT.md with the table")
    parser.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1,
                        help="processes sharing the faces (default: every core)")
    args = parser.parse_args(argv)
    faces = exit_on_user_error(read_pts_folder, args.folder)[:args.faces]
    landmarker = exit_on_user_error(Landmarker, args.model, calibration=DEFAULT_CALIBRATION)
    clock = []
    records = record_clips(faces, args.model, args.dlib, clock, args.workers, landmarker)
    params = exit_on_user_error(choose, records) if args.choose else DEFAULT
    seconds, share = filter_cost(records, params, clock)
    frame = predict_frame_cost(faces[0], landmarker, params)
    text = table(records, params) + (
        f"\n\n{len(faces)} faces, {len(records)} clips. The smoothing: {1e6 * seconds:.0f} us a face a frame, "
        f"{100 * share:.1f}% of a frame's median tracking time ({1e3 * float(np.median(clock)):.1f} ms, 640x480); "
        f"predict.py on a 640x480 video: {1e3 * frame['on']:.2f} ms a frame with it, {1e3 * frame['off']:.2f} "
        f"without ({100 * (frame['on'] / frame['off'] - 1):+.1f}%).")
    print(text)
    if args.choose:
        print(f"chosen: min_cutoff {params.min_cutoff:g}, beta {params.beta:g}, lookahead {params.lookahead} (on "
              f"{len(faces)} faces' clips)")
    if args.out:
        write_text(Path(args.out).with_suffix(".md"), text + "\n")
        plot_corner(records, params, Path(args.out).with_suffix(".png"))


if __name__ == "__main__":
    main()
