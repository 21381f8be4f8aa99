"""Windows by index arithmetic: starts, seeded split, batches, deterministic shuffles."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sensitive_hue.data.windows import WindowLoader, holdout_blocks, window_starts
from sensitive_hue.errors import DataError


def test_window_starts():
    assert window_starts(10, 4, 1).tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert window_starts(10, 4, 3).tolist() == [0, 3, 6]
    assert window_starts(4, 4, 1).tolist() == [0]
    assert window_starts(10, 4, 1).dtype == np.int64
    with pytest.raises(DataError, match=r"SMAP A-5: window length 100 \(config key step_num_in\) is longer than the "
                                        r"series \(99 rows\); lower step_num_in"):
        window_starts(99, 100, 1, name="SMAP A-5")


@settings(max_examples=50, deadline=None)
@given(length=st.integers(1, 300), window=st.integers(1, 50), stride=st.integers(1, 20))
def test_window_starts_cover_the_series_within_bounds(length, window, stride):
    if window > length:
        return
    starts = window_starts(length, window, stride)
    assert starts[0] == 0 and starts[-1] + window <= length and starts[-1] + window + stride > length
    assert np.all(np.diff(starts) == stride)


def test_blocks_are_seeded_contiguous_and_kept_out_of_training_windows():
    split = holdout_blocks(1000, 10, 1, 0.1, 3, seed=7)
    assert len(split.blocks) == 3 and split.n_val_points == 100
    assert all(end - start >= 10 for start, end in split.blocks)
    rows = np.zeros(1000, dtype=int)
    for start, end in split.blocks:
        rows[start:end] += 1
    assert rows.max() == 1  # blocks do not overlap
    covered = split.train_starts[:, None] + np.arange(10)
    assert not rows[covered].any()  # no training window touches a validation row
    assert len(split.train_starts) > 0 and np.all(np.diff(split.train_starts) > 0)
    again = holdout_blocks(1000, 10, 1, 0.1, 3, seed=7)
    assert again.blocks == split.blocks and np.array_equal(again.train_starts, split.train_starts)
    assert holdout_blocks(1000, 10, 1, 0.1, 3, seed=8).blocks != split.blocks
    np.testing.assert_array_equal(split.val_series(np.arange(1000))[0], np.arange(*split.blocks[0]))


@pytest.mark.parametrize("length, window, ratio", [(439, 100, 0.1), (312, 100, 0.1), (99360, 100, 0.1), (300, 16, 0.2)])
def test_every_series_gets_a_block_of_at_least_a_window_and_one_training_window(length, window, ratio):
    split = holdout_blocks(length, window, 1, ratio, 3, seed=0)
    assert split.n_val_points == max(window, round(length * ratio))
    assert all(end - start >= window for start, end in split.blocks)
    assert len(split.train_starts) >= 1


def test_a_series_too_short_for_a_block_and_a_window_is_a_clear_error():
    with pytest.raises(DataError, match="too few to hold out"):
        holdout_blocks(150, 100, 1, 0.1, 3, seed=0, name="MSL T-9")


def make_series(rows=50, features=3):
    return np.arange(rows * features, dtype=np.float32).reshape(rows, features)


def test_batches_are_the_windows_in_order():
    series = make_series()
    starts = window_starts(50, 5, 2)
    loader = WindowLoader(series, starts, window=5, batch_size=4, shuffle=False)
    batches = list(loader)
    assert len(loader) == len(batches) == 6 and [b.shape[0] for b in batches] == [4] * 5 + [3]  # 23 windows
    stacked = torch.cat(batches)
    assert stacked.dtype == torch.float32 and stacked.shape == (len(starts), 5, 3)
    for row, start in zip(stacked, starts):
        np.testing.assert_array_equal(row.numpy(), series[start:start + 5])
    assert np.shares_memory(loader.series, series)  # the series is used in place, not copied


def test_shuffle_is_a_function_of_seed_and_epoch():
    series = make_series(200)
    starts = window_starts(200, 8, 1)
    loader = WindowLoader(series, starts, window=8, batch_size=16, shuffle=True, seed=3)
    firsts = lambda: [b[:, 0, 0].numpy() / 3 for b in loader]  # window start = first value / features
    epoch0 = np.concatenate(firsts())
    assert sorted(epoch0.astype(int).tolist()) == starts.tolist()  # each window exactly once
    assert not np.array_equal(epoch0, starts)
    np.testing.assert_array_equal(np.concatenate(firsts()), epoch0)  # iterating again: same epoch, same order
    loader.set_epoch(1)
    epoch1 = np.concatenate(firsts())
    assert not np.array_equal(epoch1, epoch0)
    resumed = WindowLoader(series, starts, window=8, batch_size=16, shuffle=True, seed=3)
    resumed.set_epoch(1)
    np.testing.assert_array_equal(np.concatenate([b[:, 0, 0].numpy() / 3 for b in resumed]), epoch1)
    other_seed = WindowLoader(series, starts, window=8, batch_size=16, shuffle=True, seed=4)
    assert not np.array_equal(other_seed.order(), loader.order())


def test_bad_arguments():
    with pytest.raises(ValueError, match="window starts"):
        WindowLoader(make_series(), np.array([0, 46]), window=5, batch_size=2, shuffle=False)
    with pytest.raises(ValueError, match="2-D"):
        WindowLoader(np.zeros(10, dtype=np.float32), np.array([0]), window=5, batch_size=2, shuffle=False)
    assert len(WindowLoader(make_series(), np.array([], dtype=np.int64), 5, 4, shuffle=True)) == 0


def test_steps_per_epoch_draws_that_many_batches_and_every_window_before_repeats():
    series = make_series(rows=40)
    starts = window_starts(40, 5, 1)  # 36 windows
    loader = WindowLoader(series, starts, window=5, batch_size=8, shuffle=True, seed=3, steps=10)
    assert len(loader) == 10 and len(list(loader)) == 10
    order = loader.order()
    assert len(order) == 80 and sorted(order[:36]) == list(starts)  # a full permutation first
    loader.set_epoch(1)
    assert not np.array_equal(loader.order(), order)
    with pytest.raises(ValueError, match="shuffle"):
        WindowLoader(series, starts, window=5, batch_size=8, shuffle=False, steps=10)


def test_steps_with_fewer_windows_than_a_batch_give_batches_of_every_window_once():
    series = make_series(rows=40)
    starts = window_starts(40, 5, 1)[:6]
    batches = list(WindowLoader(series, starts, window=5, batch_size=64, shuffle=True, seed=1, steps=3))
    assert [len(batch) for batch in batches] == [6, 6, 6]
    for batch in batches:  # each batch: the 6 windows, each once
        firsts = sorted(float(window[0, 0]) for window in batch)
        assert firsts == sorted(float(series[start, 0]) for start in starts)
