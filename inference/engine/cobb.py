"""Cobb angles from vertebra landmarks, computed the way the AASCE 2019 challenge scored them.

Input: 68 points (x, y) in pixels, 4 corners for each of the 17 vertebrae T1-L5 from top to
bottom, each group ordered top-left, top-right, bottom-left, bottom-right.

1. A vertebra's axis joins the midpoint of its left side (mean of its two left corners) to the
   midpoint of its right side. The angle between two vertebrae is the angle between their axes
   (0-180 deg, acute or obtuse as the geometry says; axes point left to right, so in practice it
   is the tilt difference).
2. The largest angle over all vertebra pairs is the first angle (the challenge's "PT" column,
   in fact the largest curve); its two vertebrae are that curve's end vertebrae.
3. Whether the spine is S-shaped is read from the 34 endplate midpoints: their signed deviation
   from the straight line joining the first and the last one. Any change of sign means S.
4. C-shaped (not S): the second angle is between T1 and the upper end vertebra, the third
   between L5 and the lower end vertebra.
   S-shaped: if the main curve lies in the upper half of the film (the sum of its end
   vertebrae's endplate heights is less than the film's height), the second angle is the largest
   angle between the upper end vertebra and any vertebra above it, and the third the largest
   between the lower end vertebra and any vertebra below it. Otherwise (the main curve lies low)
   the second is the largest angle between the upper end vertebra and any above it, and the
   third the largest angle between *that* vertebra and any above it.

The challenge's MATLAB routine does exactly this, including the upper/lower-half test on raw
pixel heights, which is why the film height is an input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

VERTEBRAE = (
    "T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9", "T10", "T11", "T12",
    "L1", "L2", "L3", "L4", "L5",
)
NUM_VERTEBRAE = len(VERTEBRAE)
NUM_LANDMARKS = 4 * NUM_VERTEBRAE

# A sign change of the midline about the T1-L5 chord makes the challenge call the spine S-shaped;
# clinically a second curve only counts when it measures at least this much.
SECONDARY_CURVE_MIN_DEG = 10.0


@dataclass(frozen=True)
class Curve:
    angle: float
    upper: str  # upper end vertebra
    lower: str  # lower end vertebra
    apex: str


@dataclass(frozen=True)
class CobbMeasurement:
    pt: float  # the challenge's first angle: the largest curve
    mt: float  # the curve above / second angle, as the challenge defines it
    tl: float  # the curve below / third angle
    largest: Curve
    curve_type: str  # "C" or "S"
    severity: str
    s_shaped_midline: bool  # the challenge's S test, which picks how mt and tl are found

    def to_dict(self) -> dict[str, Any]:
        return {
            "cobb": {"pt": self.pt, "mt": self.mt, "tl": self.tl},
            "largest": asdict(self.largest),
            "curve_type": self.curve_type,
            "severity": self.severity,
        }


def severity_band(angle: float) -> str:
    """<10 none, 10 to <25 watch, 25 to 40 brace, >40 surgical consideration."""
    if angle < 10.0:
        return "none"
    if angle < 25.0:
        return "watch"
    if angle <= 40.0:
        return "brace"
    return "surgical consideration"


def as_landmark_array(landmarks: Any) -> np.ndarray:
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (NUM_LANDMARKS, 2):
        raise ValueError(f"expected {NUM_LANDMARKS} landmarks as (x, y) pairs, got shape {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError("landmarks contain NaN or infinite values")
    return points


def vertebra_axes(points: np.ndarray) -> np.ndarray:
    """(17, 2) vectors from each vertebra's left-side midpoint to its right-side midpoint."""
    corners = points.reshape(NUM_VERTEBRAE, 4, 2)
    left = (corners[:, 0] + corners[:, 2]) / 2
    right = (corners[:, 1] + corners[:, 3]) / 2
    return right - left


def vertebra_centres(points: np.ndarray) -> np.ndarray:
    return points.reshape(NUM_VERTEBRAE, 4, 2).mean(axis=1)


def endplate_midpoints(points: np.ndarray) -> np.ndarray:
    """(34, 2): for each vertebra, the midpoint of its upper then of its lower endplate."""
    return (points[0::2] + points[1::2]) / 2


def pairwise_angles(axes: np.ndarray) -> np.ndarray:
    """(17, 17) angles in degrees between vertebra axes."""
    norms = np.linalg.norm(axes, axis=1)
    if (norms < 1e-9).any():
        raise ValueError("a vertebra has coincident left and right sides")
    cosine = (axes @ axes.T) / np.outer(norms, norms)
    # Not clipped at 0: the challenge's labels keep angles above 90 deg (a few films have them).
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def is_s_shaped(midpoints: np.ndarray) -> bool:
    """The challenge's test: does the midline cross the chord joining its first and last points?

    Each point's deviation compares its relative height and its relative lateral position along
    the chord; the last two points are not tested, as in the challenge's routine.
    """
    first, last = midpoints[0], midpoints[-1]
    span = first - last
    if abs(span[0]) < 1e-12 or abs(span[1]) < 1e-12:
        # A perfectly vertical chord: compare lateral offsets directly (the challenge divides by 0).
        deviation = midpoints[:-2, 0] - last[0]
    else:
        rel = (midpoints[:-2] - last) / span
        deviation = rel[:, 1] - rel[:, 0]
    return bool((deviation > 0).any() and (deviation < 0).any())


def apex_index(centres: np.ndarray, upper: int, lower: int) -> int:
    """The vertebra between the end vertebrae farthest from the line joining their centres."""
    if lower - upper < 2:
        return upper if lower == upper else lower
    a, b = centres[upper], centres[lower]
    direction = (b - a) / max(np.linalg.norm(b - a), 1e-9)
    offsets = centres[upper + 1 : lower] - a
    distance = np.abs(offsets[:, 0] * direction[1] - offsets[:, 1] * direction[0])
    return upper + 1 + int(np.argmax(distance))


def curve_between(landmarks: Any, upper: str, lower: str) -> Curve:
    """The curve a reader chose: the angle between two named vertebrae's axes (the same formula
    as the largest angle), with the apex between them. Raises ValueError for unknown names, an
    upper vertebra not above the lower one, or degenerate landmarks."""
    points = as_landmark_array(landmarks)
    if upper not in VERTEBRAE or lower not in VERTEBRAE:
        raise ValueError(f"end vertebrae must be among {VERTEBRAE[0]}-{VERTEBRAE[-1]}")
    top, bottom = VERTEBRAE.index(upper), VERTEBRAE.index(lower)
    if top >= bottom:
        raise ValueError("the upper end vertebra must lie above the lower one")
    angle = float(pairwise_angles(vertebra_axes(points))[top, bottom])
    apex = apex_index(vertebra_centres(points), top, bottom)
    return Curve(angle, upper, lower, VERTEBRAE[apex])


def cobb_angles(landmarks: Any, image_height: float) -> CobbMeasurement:
    """The three challenge angles plus the largest curve, its type and severity band.

    ``landmarks``: 68 (x, y) pixel pairs; ``image_height``: the film's height in the same units.
    """
    points = as_landmark_array(landmarks)
    angles = pairwise_angles(vertebra_axes(points))
    last = NUM_VERTEBRAE - 1
    # Row maxima, then the first row achieving the overall maximum (the upper end vertebra,
    # since the matrix is symmetric): the challenge's argmax order, ties included.
    partner = angles.argmax(axis=1)
    upper = int(angles.max(axis=1).argmax())
    lower = int(partner[upper])
    largest = float(angles[upper, lower])
    midpoints = endplate_midpoints(points)
    s_shaped = is_s_shaped(midpoints)
    if not s_shaped:
        second = float(angles[0, upper])
        third = float(angles[last, lower])
    elif midpoints[2 * upper + 1, 1] + midpoints[2 * lower + 1, 1] < image_height:
        second = float(angles[upper, : upper + 1].max())
        third = float(angles[lower, lower:].max())
    else:
        above = angles[upper, : upper + 1]
        second = float(above.max())
        beyond = int(above.argmax())
        third = float(angles[beyond, : beyond + 1].max())
    top, bottom = min(upper, lower), max(upper, lower)
    apex = apex_index(vertebra_centres(points), top, bottom)
    curve = Curve(largest, VERTEBRAE[top], VERTEBRAE[bottom], VERTEBRAE[apex])
    secondary = max(second, third)
    curve_type = "S" if s_shaped and secondary >= SECONDARY_CURVE_MIN_DEG else "C"
    return CobbMeasurement(largest, second, third, curve, curve_type, severity_band(largest), s_shaped)
