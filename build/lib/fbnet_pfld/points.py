"""The point schemes, in one place: for each landmark count K that the project knows (68: iBUG 300-W,
98: WFLW, 106: LaPa / JD-106), which points are the outer eye corners (NME's normaliser), which swap
sides in a mirror image, and which 14 points and generic 3D head give the head pose. Any other K trains
and predicts; it just has no inter-ocular NME, no flip and zero pose labels.
"""

import numpy as np

# Outer eye corners of the ground truth, the inter-ocular normaliser of NME: iBUG 300-W (68), WFLW (98)
# and LaPa/JD-106 (106) orders. In the 106 order of ../shared/data/samples106, 35 and 93 (quoted by the
# reference) are a brow and a lip point; 66 and 79 are the outer eye corners (checked on both samples).
EYE_CORNERS = {106: (66, 79), 98: (60, 72), 68: (36, 45)}

# 33-point contour and 9-point brows, shared by the WFLW (98) and LaPa (106) orders.
_CONTOUR_33_AND_BROWS = [(i, 32 - i) for i in range(16)] + [(33 + i, 46 - i) for i in range(5)] \
    + [(38 + i, 50 - i) for i in range(4)]

# Left/right point pairs for horizontal flips; points not listed (the midline) map to themselves.
# 68: iBUG 300-W. 98: WFLW (eyes 60-75, pupils 96/97). 106: LaPa, the order of ../shared/data/samples106
# (nose 55-65, eyes 66-73 and 75-82 with pupils 74/83, lips 84-103, 104/105).
FLIP_PAIRS = {
    68: [(i, 16 - i) for i in range(8)]
    + [(17 + i, 26 - i) for i in range(5)]
    + [(31, 35), (32, 34), (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),
       (48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)],
    98: _CONTOUR_33_AND_BROWS + [(55, 59), (56, 58)]
    + [(60 + i, 72 - i) for i in range(5)] + [(65 + i, 75 - i) for i in range(3)]
    + [(76, 82), (77, 81), (78, 80), (83, 87), (84, 86), (88, 92), (89, 91), (93, 95), (96, 97)],
    106: _CONTOUR_33_AND_BROWS + [(55 + i, 65 - i) for i in range(5)]
    + [(66 + i, 79 - i) for i in range(5)] + [(71, 82), (72, 81), (73, 80), (74, 83)]
    + [(84, 90), (85, 89), (86, 88), (91, 95), (92, 94), (96, 100), (97, 99), (101, 103), (104, 105)],
}


def flip_permutation(num_points):
    """Index map so that ``flipped[i] = points[perm[i]]`` after mirroring x; None if unknown."""
    if num_points not in FLIP_PAIRS:
        return None
    perm = list(range(num_points))
    for a, b in FLIP_PAIRS[num_points]:
        perm[a], perm[b] = b, a
    return perm


def mirror_points(points, perm):
    """Points [..., K, 2] normalised to a crop, as seen in the crop's mirror image: x -> 1 - x and left and
    right points swapped. The one home of the convention that training flips and test-time flips share."""
    mirrored = points[..., perm, :].copy()
    mirrored[..., 0] = 1.0 - mirrored[..., 0]
    return mirrored


# 14 points tracked for head pose: brow outer/inner (left, right), eye outer/inner, nose wings,
# mouth corners, lower lip centre, chin, in each point scheme's own indices. 106 is the LaPa/JD-106
# order of ../shared/data/samples106 (the reference's list, 43,46,97,101,35,75,89,93,..., is for
# another 106 order: there 35 is a brow point); each index was checked on both samples.
POSE_POINTS = {
    68: [17, 21, 22, 26, 36, 39, 42, 45, 31, 35, 48, 54, 57, 8],
    98: [33, 38, 50, 46, 60, 64, 68, 72, 55, 59, 76, 82, 85, 16],
    106: [33, 37, 42, 46, 66, 70, 75, 79, 57, 63, 84, 90, 93, 16],
}
# The same 14 points on a generic adult head (cm), in the camera's axes (x right, y down, z away from
# the camera), so that a frontal face has the identity rotation and zero Euler angles.
FACE_3D = np.array([
    [-6.8, -6.8, 2.6], [-1.3, -7.1, 0.1], [1.3, -7.1, 0.1], [6.8, -6.8, 2.6],
    [-5.3, -5.5, 3.0], [-1.8, -5.4, 2.6], [1.8, -5.4, 2.6], [5.3, -5.5, 3.0],
    [-2.0, -1.4, 0.8], [2.0, -1.4, 0.8], [-2.8, 2.1, 2.0], [2.8, 2.1, 2.0],
    [0.0, 3.1, 0.9], [0.0, 7.4, 2.9],
])
