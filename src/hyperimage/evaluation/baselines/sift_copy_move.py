"""A plain copy-move baseline: SIFT keypoints matched within the image, pairs agreeing on one shift counted.

What a user would write first (about 40 lines), and the row the copy-move evidence channel
(:mod:`hyperimage.inference.evidence.copy_move`) must beat in the same run: OpenCV's SIFT with
its defaults on the image as it is, each keypoint matched to the others of the same image by
the generalised 2-nearest-neighbour test (g2NN) of Amerini et al. (2011), and the score the
largest number of matched pairs that share one displacement (to within :data:`SHIFT_BIN`
pixels). No clustering, no affine model, no flat-area filter, no resampling; pairs closer
than :data:`MIN_SHIFT` are the same place. Its map, for pixel F1, draws the keypoints of those
pairs (both ends) as discs of the keypoint's own size, valued by the score.

References
----------
I. Amerini, L. Ballan, R. Caldelli, A. Del Bimbo and G. Serra, "A SIFT-based forensic method
for copy-move attack detection and transformation recovery", IEEE TIFS 6(3), 2011.
"""

from __future__ import annotations

import cv2
import numpy as np

#: g2NN: the k-th neighbour is a match while ``d_k / d_{k+1}`` stays below this (the paper's 0.5).
RATIO = 0.5
#: Neighbours examined per keypoint.
NEIGHBOURS = 10
#: Pairs whose keypoints are closer than this (pixels) are the same place, not a copy.
MIN_SHIFT = 10.0
#: Displacements agree when they fall in the same bin of this many pixels.
SHIFT_BIN = 4.0


def plain_sift(gray: np.ndarray) -> tuple[int, np.ndarray]:
    """The score of ``gray`` ``(H, W)`` uint8 (matched pairs agreeing on the most common
    displacement; 0 with fewer than three keypoints) and its map ``(H, W)`` float32."""
    evidence = np.zeros(gray.shape, np.float32)
    points, desc = cv2.SIFT_create().detectAndCompute(gray, None)
    if desc is None or len(points) < 3:
        return 0, evidence
    matches = cv2.BFMatcher(cv2.NORM_L2).knnMatch(desc, desc, k=min(NEIGHBOURS + 1, len(points)))
    dist = np.array([[m.distance for m in row] for row in matches])[:, 1:]  # the first is the keypoint itself
    index = np.array([[m.trainIdx for m in row] for row in matches])[:, 1:]
    rows, cols = np.nonzero(np.cumprod(dist[:, :-1] < RATIO * dist[:, 1:], axis=1))  # g2NN
    pairs = np.unique(np.sort(np.stack([rows, index[rows, cols]], axis=1), axis=1), axis=0).reshape(-1, 2)
    xy = cv2.KeyPoint_convert(points).astype(np.float64)
    shift = xy[pairs[:, 1]] - xy[pairs[:, 0]]
    shift[(shift[:, 0] < 0) | ((shift[:, 0] == 0) & (shift[:, 1] < 0))] *= -1  # one sign for either way round
    apart = np.hypot(*shift.T) >= MIN_SHIFT
    pairs, shift = pairs[apart], shift[apart]
    if not len(pairs):
        return 0, evidence
    _, which, counts = np.unique(np.floor(shift / SHIFT_BIN), axis=0, return_inverse=True, return_counts=True)
    score = int(counts.max())
    for i in np.unique(pairs[which.ravel() == counts.argmax()]):
        cv2.circle(evidence, np.rint(xy[i]).astype(int).tolist(), max(1, round(points[i].size / 2)), float(score), -1)
    return score, evidence
