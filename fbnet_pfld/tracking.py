"""Faces followed through a video from their previous landmarks; the detector runs only when a track is
lost, on the first frame, and every few frames for new faces. Each track's points are steadied by a
One-Euro filter (smoothing.py) unless smoothing is off; the tracker follows the raw points, so the filter
never drags the crop, and a lost track's filter goes with it."""

import cv2
import numpy as np

from fbnet_pfld.detector import box_iou
from fbnet_pfld.errors import DataError
from fbnet_pfld.faces import Face, face_record, find_faces, point_box
from fbnet_pfld.smoothing import OneEuroFilter

LOST_CHANGE = 0.08  # a track is lost when a refine pass moves its points by more than this x box side
CUT = 24.0  # mean grey-level change (of 255) between two frames' thumbnails above which the scene has cut


class Tracker:
    """Faces followed from their previous landmarks, frame to frame. A track is lost when a refine pass
    moves its points by more than LOST_CHANGE box sides (the crop no longer holds a face the model
    agrees with) or it leaves the frame; the detector runs then, on the first frame, and every
    ``redetect`` frames to pick up new faces. ``smoothing``: One-Euro parameters (None: raw points) at ``fps``."""

    def __init__(self, landmarker, calibration, redetect=30, box=None, smoothing=None, fps=30.0):
        if not (isinstance(redetect, int) and redetect >= 1):
            raise DataError(f"redetect={redetect!r}: the detector's interval must be a whole number of frames >= 1")
        self.landmarker, self.calibration, self.redetect, self.box = landmarker, calibration, redetect, box
        self.smoothing, self.fps = smoothing, fps
        self.lookahead = 0 if smoothing is None else smoothing.lookahead  # for a Lookahead after step()
        if smoothing is not None:
            OneEuroFilter(smoothing, fps)  # parameters and frame rate checked before the first frame
        self.tracks, self.frame, self.next_id, self.detector_runs, self.thumb = [], 0, 0, 0, None

    def _follow(self, frame):
        if not self.tracks:
            return False
        points, change = self.landmarker(frame, [point_box(t["points"]) for t in self.tracks], passes=1)
        height, width = frame.shape[:2]
        kept = [dict(t, points=p) for t, p, c in zip(self.tracks, points, change)
                if c <= LOST_CHANGE and 0 <= point_box(p)[0][0] < width and 0 <= point_box(p)[0][1] < height]
        lost = len(kept) < len(self.tracks)
        self.tracks = kept
        return lost

    def _detect(self, frame, verify=False):
        """Start tracks for faces not followed yet; ``verify`` (after a cut) also ends the tracks no detection
        confirms, since a crop on a face that has gone can look like a face to the model."""
        self.detector_runs += 1
        found = find_faces(frame, self.calibration, self.box if self.frame == 0 else None)
        if verify:
            self.tracks = [t for t in self.tracks if any(
                box_iou(landmark_xyxy(t["points"]), np.r_[c - e / 2, c + e / 2]) > 0.3 for _, _, c, e in found)]
        boxes = [landmark_xyxy(t["points"]) for t in self.tracks]
        fresh = [(b, s, c, e) for b, s, c, e in found
                 if all(box_iou(np.r_[c - e / 2, c + e / 2], other) <= 0.3 for other in boxes)]
        points, _ = self.landmarker(frame, [(c, e) for _, _, c, e in fresh])
        for (_, score, _, _), p in zip(fresh, points):
            smoother = None if self.smoothing is None else OneEuroFilter(self.smoothing, self.fps)
            self.tracks.append({"id": self.next_id, "score": score, "points": p, "filter": smoother})
            self.next_id += 1

    def _cut(self, frame):
        """Whether the scene changed at once since the previous frame (a cut)."""
        thumb = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (32, 24), interpolation=cv2.INTER_AREA)
        previous, self.thumb = self.thumb, thumb.astype(np.float32)
        return previous is not None and float(np.abs(self.thumb - previous).mean()) > CUT

    def step(self, frame):
        """This frame's faces (box = the landmark box of the shown points), with their track ids."""
        cut = self._cut(frame)
        lost = self._follow(frame)
        if cut or lost or not self.tracks or self.frame % self.redetect == 0:
            self._detect(frame, verify=cut)
        self.frame += 1
        faces = []
        for t in self.tracks:
            shown = t["points"] if t["filter"] is None else t["filter"](t["points"])
            faces.append(dict(face_record(Face(landmark_xyxy(shown), t["score"], shown)), track=t["id"]))
        return faces


def landmark_xyxy(points):
    return np.r_[points.min(axis=0), points.max(axis=0)]


class Lookahead:
    """Each frame's faces averaged, per track, with the same track's points in the ``half`` frames on either
    side (smoothing.centred_mean as a stream): ``push`` takes a frame's faces and returns the faces of the
    frames now complete, in order (frame t's once frame t + half is in), ``flush`` the rest at the end. A
    track's window shrinks to the frames around t that all hold it, so a track never borrows another's points
    and its first and last frames pass as they are. ``half`` 0 passes every frame through at once."""

    def __init__(self, half):
        self.half, self.window, self.start, self.emitted = int(half), [], 0, 0

    def push(self, faces):
        self.window.append({face["track"]: (face, np.asarray(face["landmarks"], np.float64)) for face in faces})
        out = []
        while self.emitted + self.half < self.start + len(self.window):
            out.append(self._emit(self.emitted))
        drop = max(0, self.emitted - self.half - self.start)
        del self.window[:drop]
        self.start += drop
        return out

    def flush(self):
        out = []
        while self.emitted < self.start + len(self.window):
            out.append(self._emit(self.emitted))
        return out

    def _emit(self, index):
        def holds(i, track):
            return self.start <= i < self.start + len(self.window) and track in self.window[i - self.start]

        faces = []
        for track, (face, _) in self.window[index - self.start].items():
            h = 0
            while h < self.half and holds(index - h - 1, track) and holds(index + h + 1, track):
                h += 1
            if h == 0:
                faces.append(face)
                continue
            points = sum(self.window[i - self.start][track][1] for i in range(index - h, index + h + 1)) / (2 * h + 1)
            faces.append(dict(face_record(Face(landmark_xyxy(points), face["score"], points)), track=track))
        self.emitted += 1
        return faces
