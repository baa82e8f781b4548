"""Faces followed through a video from their previous landmarks; the detector runs only when a track is
lost, on the first frame, and every few frames for new faces."""

import numpy as np

from fbnet_pfld.detector import box_iou
from fbnet_pfld.landmarker import Face, face_record, find_faces, point_box

LOST_CHANGE = 0.08  # a track is lost when a refine pass moves its points by more than this x box side


class Tracker:
    """Faces followed from their previous landmarks, frame to frame. A track is lost when a refine pass
    moves its points by more than LOST_CHANGE box sides (the crop no longer holds a face the model
    agrees with) or it leaves the frame; the detector runs then, on the first frame, and every
    ``redetect`` frames to pick up new faces."""

    def __init__(self, landmarker, calibration, redetect=30, box=None):
        self.landmarker, self.calibration, self.redetect, self.box = landmarker, calibration, redetect, box
        self.tracks, self.frame, self.next_id, self.detector_runs = [], 0, 0, 0

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

    def _detect(self, frame):
        self.detector_runs += 1
        found = find_faces(frame, self.calibration, self.box if self.frame == 0 else None)
        boxes = [landmark_xyxy(t["points"]) for t in self.tracks]
        fresh = [(b, s, c, e) for b, s, c, e in found
                 if all(box_iou(np.r_[c - e / 2, c + e / 2], other) <= 0.3 for other in boxes)]
        points, _ = self.landmarker(frame, [(c, e) for _, _, c, e in fresh])
        for (_, score, _, _), p in zip(fresh, points):
            self.tracks.append({"id": self.next_id, "score": score, "points": p})
            self.next_id += 1

    def step(self, frame):
        """This frame's faces (box = the landmark box of the tracked points)."""
        lost = self._follow(frame)
        if lost or not self.tracks or self.frame % self.redetect == 0:
            self._detect(frame)
        self.frame += 1
        return [dict(face_record(Face(landmark_xyxy(t["points"]), t["score"], t["points"])), track=t["id"])
                for t in self.tracks]


def landmark_xyxy(points):
    return np.r_[points.min(axis=0), points.max(axis=0)]
