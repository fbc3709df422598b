"""The per-image memo: results kept by image identity, least recently used out, arrays read-only."""

from __future__ import annotations

import numpy as np
import pytest

from vliqa.core import CTImage
from vliqa.core.memo import ImageMemo


def _image(value: float = 0.0) -> CTImage:
    return CTImage(np.full((8, 8), value, np.float32))


def test_computed_once_per_image_and_key():
    memo, calls = ImageMemo(4), []
    a = _image()
    for _ in range(3):
        assert memo.get(a, "k", lambda: calls.append(1) or 7) == 7
    assert len(calls) == 1 and memo.hits == 2
    memo.get(a, "other", lambda: calls.append(1) or 8)
    assert len(calls) == 2


def test_equal_images_are_different_entries_and_old_ones_are_evicted():
    memo = ImageMemo(2)
    a, b, c = _image(), _image(), _image()  # equal pixels, different objects
    memo.store(a, "k", 1)
    memo.store(b, "k", 2)
    assert memo.lookup(a, "k") == (True, 1) and memo.lookup(b, "k") == (True, 2)
    memo.store(c, "k", 3)  # a, the least recently used, goes
    assert memo.lookup(a, "k") == (False, None)
    memo.store(_image(), "k", 4)
    assert memo.lookup(c, "k") == (True, 3)
    assert memo.lookup(b, "k") == (False, None)


def test_arrays_handed_out_are_read_only():
    memo = ImageMemo()
    value = memo.get(_image(), "k", lambda: np.zeros(3))
    with pytest.raises(ValueError):
        value[0] = 1.0


def test_the_vlm_reuses_what_the_scorers_measured(abdomen_series):
    """Describing a slice just scored measures nothing again: the reader's features and MedQM-I's scores come from
    the memo."""
    from vliqa.core.memo import IMAGE_MEMO
    from vliqa.io import load
    from vliqa.models import load as load_model
    from vliqa.models.vlm.encoder import VisionEncoder

    slices = [load(abdomen_series).slice(i) for i in range(2)]
    load_model("reader").predict(slices)
    before = IMAGE_MEMO.misses
    VisionEncoder().encode_ct(slices)
    assert IMAGE_MEMO.misses == before
