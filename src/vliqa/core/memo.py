"""What has been computed from an image, kept for the images seen last, so that no step computes it twice.

The reader model, the MedQM-I scorer and the VLM's vision encoder all start from the same slice: its reading
display, its texture features, its brain/body decision and the scorer's predictions. The Assessor scores a batch
and the VLM then describes the same batch; `IMAGE_MEMO` lets the second step reuse what the first measured.

Entries are keyed by the image object itself (identity, not value: images are immutable once built) and evicted
least recently used; the memo holds a reference to each image it keeps, so an id is never reused while cached.
Arrays handed out are read-only. Thread-safe: the HTTP service scores from several threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

#: Images kept by default: a few batches (about 1.3 MB each at 512x512 with their 256 px display).
MEMO_IMAGES = 96


def _freeze(value: Any) -> Any:
    """Makes numpy arrays in `value` (an array, or a tuple/list of them) read-only; gives `value`."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, (tuple, list)):
        for item in value:
            _freeze(item)
    return value


class ImageMemo:
    """Results computed from images, per image object, for the `size` images used last."""

    def __init__(self, size: int = MEMO_IMAGES):
        self.size = int(size)
        self._lock = threading.Lock()
        self._entries: OrderedDict[int, tuple[object, dict[Hashable, Any]]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def _entry(self, image: object) -> dict[Hashable, Any] | None:
        found = self._entries.get(id(image))
        if found is None or found[0] is not image:
            return None
        self._entries.move_to_end(id(image))
        return found[1]

    def lookup(self, image: object, key: Hashable) -> tuple[bool, Any]:
        """Gives (found, value) of `key` for `image`."""
        with self._lock:
            entry = self._entry(image)
            if entry is not None and key in entry:
                self.hits += 1
                return True, entry[key]
            self.misses += 1
            return False, None

    def store(self, image: object, key: Hashable, value: T) -> T:
        """Keeps `value` as `key` of `image` (arrays made read-only) and gives it back."""
        value = _freeze(value)
        with self._lock:
            entry = self._entry(image)
            if entry is None:
                entry = {}
                self._entries[id(image)] = (image, entry)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
            entry[key] = value
        return value

    def get(self, image: object, key: Hashable, compute: Callable[[], T]) -> T:
        """Gives `key` of `image`, computed by `compute()` the first time (outside the lock)."""
        found, value = self.lookup(image, key)
        if found:
            return value
        return self.store(image, key, compute())

    def clear(self) -> None:
        """Forgets everything."""
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0


#: The process-wide memo the scorers and the VLM encoder share.
IMAGE_MEMO = ImageMemo()
