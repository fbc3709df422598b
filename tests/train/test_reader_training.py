"""The reader trainer's pieces: pair weights per group, a ranking fit that learns, export-consistency pairs."""

from __future__ import annotations

import numpy as np
import pytest

from vliqa.train.reader import Item, TrainSettings, consistency_pairs, fit_head, ranking_pairs


def _item(key, group, value, source="petct", fold=0, x=None):
    return Item(key=key, source=source, group=group, fold=fold, nr=np.zeros(3, np.float32) if x is None else x,
                fr=np.zeros(0, np.float32), targets={"overall": value}, absolute=value)


def test_every_group_weighs_the_same_whatever_its_size():
    items = [_item(f"a{i}", "big", float(i)) for i in range(10)] + [_item(f"b{i}", "small", float(i)) for i in range(3)]
    pairs = ranking_pairs(items, "overall", np.ones(len(items), bool))
    big = pairs[pairs[:, 0] < 10]
    small = pairs[pairs[:, 0] >= 10]
    assert big[:, 2].sum() == pytest.approx(small[:, 2].sum())
    assert all(items[int(a)].targets["overall"] > items[int(b)].targets["overall"] for a, b, _ in pairs)


def test_a_ranking_head_learns_a_monotone_feature():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    items = [_item(str(i), f"g{i % 4}", float(-x[i, 1]), x=x[i]) for i in range(40)]
    pairs = ranking_pairs(items, "overall", np.ones(40, bool))
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 40 rows: a second thread only waits (seconds, on a busy machine)
    try:
        head = fit_head(x, pairs, TrainSettings(hidden=4, ensemble=2, steps=100), seed=0)  # r > 0.97 for seeds 0-2
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        score = head.rank(torch.from_numpy(x)).mean(0).numpy()
    assert np.corrcoef(score, -x[:, 1])[0, 1] > 0.9


def test_exports_are_tied_to_their_own_slice():
    items = [Item(key=f"e{g}#{n}", source="export", group=f"export/{g}", fold=0, nr=np.zeros(3, np.float32),
                  fr=np.zeros(0, np.float32), targets={"anchor": float(n == 0)}) for g in range(2) for n in range(3)]
    rows = consistency_pairs(items, np.ones(len(items), bool))
    assert sorted(map(tuple, rows.tolist())) == [(1, 0), (2, 0), (4, 3), (5, 3)]


def test_a_sites_score_csv_joins_training_as_its_own_ranked_source(tmp_path):
    from pathlib import Path

    import vliqa
    from vliqa.train.reader import SOURCE_WEIGHT, _score_spec, scored_items

    folder = Path(vliqa.__file__).parent / "samples" / "abdomen_ct_dicom"
    files = sorted(folder.iterdir())[:3]
    csv = tmp_path / "site.csv"
    csv.write_text("path,score\n" + "".join(f"{f},{s}\n" for f, s in zip(files, (1.0, 2.5, 3.5), strict=True)))
    path, weight = _score_spec(f"{csv}:0.5")
    items = scored_items(path, weight)
    assert [i.absolute for i in items] == [1.0, 2.5, 3.5]
    assert {i.source for i in items} == {"scores:site.csv"} and SOURCE_WEIGHT["scores:site.csv"] == 0.5
    pairs = ranking_pairs(items, "overall", np.ones(3, bool))
    assert len(pairs) == 3 and pairs[:, 2].sum() == pytest.approx(0.5)
