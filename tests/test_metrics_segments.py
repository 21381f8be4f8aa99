"""Segments and point adjustment on hand-checked cases."""

import numpy as np

from sensitive_hue.metrics import point_adjust, segments


def test_segments_at_edges_and_single_points():
    labels = np.array([1, 1, 0, 1, 0, 0, 1, 1, 1])
    starts, ends = segments(labels)
    assert starts.tolist() == [0, 3, 6] and ends.tolist() == [2, 4, 9]
    assert [len(a) for a in segments(np.zeros(5))] == [0, 0]
    assert [a.tolist() for a in segments(np.ones(3))] == [[0], [3]]


def test_point_adjust_hand_cases():
    labels = np.array([1, 1, 0, 1, 0, 0, 1, 1, 1])
    pred = np.array([0, 1, 0, 0, 1, 0, 0, 0, 1])
    # first segment hit at its end, single-point segment missed, last segment hit at the series end;
    # the false positive at index 4 stays as it is
    assert point_adjust(pred, labels).astype(int).tolist() == [1, 1, 0, 0, 1, 0, 1, 1, 1]
    assert point_adjust([0, 0, 1], [0, 0, 1]).tolist() == [False, False, True]
    assert point_adjust([1, 0, 0], [0, 0, 0]).tolist() == [True, False, False]  # no anomaly: unchanged
