"""Benchmark of the quality VLM: captions, distortion identification, A/B comparison, real pairs, photos, speed.

    python bench/vlm_bench.py [--model vlm] [--data data/vlm-ct] [--markdown out/bench/vlm.md] [--quick]

Held-out figures use the test split (patients never trained on) of the CT-IQA set the model was trained from
(`make train-vlm` builds it) and photographs never trained on; real pairs come from ../shared/data. Every
figure sits beside its baselines measured in the same run: a retrieval captioner (the nearest training image's
caption), and the scorers' own comparisons (reader without and with the reference, MedQM-I).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import Report  # noqa: E402

from vliqa.core import level_of  # noqa: E402
from vliqa.io import load  # noqa: E402
from vliqa.metrics.text import caption_metrics  # noqa: E402
from vliqa.models.vlm import load_vlm  # noqa: E402
from vliqa.models.vlm.vocab import SLOT_ORDER  # noqa: E402
from vliqa.text import describe, parse  # noqa: E402
from vliqa.train.vlm import ImageItem, ct_items, levels_of  # noqa: E402

#: the reader's no-reference overall score and MedQM-I's overall score in a CT global vector (encoder.py)
READER_NR, MEDQM_NR = 20, 25
TIE_GAP = 0.25


def _scored(score_a: float, score_b: float, std_a: float = float("nan"), std_b: float = float("nan")) -> str:
    """The verdict `vliqa compare` gives from two scores (ties within 0.05)."""
    from vliqa.assessment.language import scored_preference

    return ("A", "B", "tie")[int(np.argmax(scored_preference(score_a, score_b, std_a, std_b)))]


def truth_levels(item: ImageItem) -> dict[str, int]:
    return {k: level_of(v) for k, v in levels_of(item.labels).items()}


def caption_section(vlm: Any, store: Any, test: list[ImageItem], train: list[ImageItem], report: Report,
                    console: Console) -> dict[str, Any]:
    """Levels read back from generated captions, BLEU-4 / CIDEr-D against a retrieval captioner."""
    keys = [it.key for it in test]
    started = time.perf_counter()
    captions = []
    for i in range(0, len(keys), 32):
        captions += vlm.caption_keys(store, keys[i:i + 32])
    seconds = time.perf_counter() - started
    parsed_ok = defaultdict(int)
    slot_ok = defaultdict(int)
    for item, cap in zip(test, captions, strict=True):
        truth = truth_levels(item)
        said = parse(cap.text)
        for k in SLOT_ORDER:
            value = said.overall if k == "overall" else said.aspects.get(k)
            value = cap.levels[k] if value is None and k != "overall" and cap.levels[k] == 4 else value
            parsed_ok[k] += int(value == truth[k])
            slot_ok[k] += int(cap.levels[k] == truth[k])
    # fixed levels (what the Assessor does): the text must state exactly the fixed levels
    fixed = vlm.caption_keys(store, keys, levels=[truth_levels(it) for it in test])
    own_text = sum(c.model_text for c in fixed)
    agree = sum(_agrees(c.text, truth_levels(it)) for c, it in zip(fixed, test, strict=True))
    # text metrics: five template references per image; the retrieval baseline copies the nearest training caption
    refs = {it.key: [describe(it.labels, it.context, seed=s) for s in range(5)] for it in test}
    model_m = caption_metrics({it.key: c.text for it, c in zip(test, captions, strict=True)}, refs)
    retrieval = _retrieval(vlm, store, test, train)
    retr_m = caption_metrics(retrieval, refs)
    n = len(test)
    rows = [[k, f"{parsed_ok[k] / n:.3f}", f"{slot_ok[k] / n:.3f}"] for k in SLOT_ORDER]
    report.add_rows(f"Held-out CT captions ({n} test images): level read back from the caption = truth",
                    ["level", "parsed from caption", "slot"], rows,
                    note="Truth: the reader-fitted labels of the test split. 'parsed' reads the generated text with "
                         "vliqa.text.parse (an aspect a caption calls fine without naming counts as its slot).")
    report.add_rows("Captions with the levels fixed (the Assessor's mode)", ["figure", "value"],
                    [["captions whose parsed levels equal the fixed levels", f"{agree}/{n}"],
                     ["of them in the model's own words (no template fallback)", f"{own_text}/{n}"]])
    report.add_rows("Caption text metrics against 5 template references per image",
                    ["captioner", "BLEU-4", "CIDEr-D", "ROUGE-L"],
                    [["quality VLM", f"{model_m['bleu4']:.3f}", f"{model_m['cider_d']:.3f}",
                      f"{model_m['rouge_l']:.3f}"],
                     ["retrieval (nearest training image's caption)", f"{retr_m['bleu4']:.3f}",
                      f"{retr_m['cider_d']:.3f}", f"{retr_m['rouge_l']:.3f}"]])
    console.print(f"captions: {n} in {seconds:.1f} s; bleu4 {model_m['bleu4']:.3f} vs retrieval {retr_m['bleu4']:.3f}")
    return {"parsed": {k: parsed_ok[k] / n for k in SLOT_ORDER}, "slot": {k: slot_ok[k] / n for k in SLOT_ORDER},
            "fixed_agree": agree / n, "own_text": own_text / n, "model": model_m, "retrieval": retr_m}


def _agrees(text: str, levels: dict[str, int]) -> bool:
    from vliqa.models.vlm import text_agrees

    return text_agrees(text, levels) and parse(text).overall == levels["overall"]


def _retrieval(vlm: Any, store: Any, test: list[ImageItem], train: list[ImageItem]) -> dict[str, str]:
    stats = vlm.model.config.feature_stats["ct"]
    mean, std = np.asarray(stats[0]), np.asarray(stats[1])
    bank = np.stack([(store.images[t.key].global_vec - mean) / std for t in train])
    out = {}
    for it in test:
        q = (store.images[it.key].global_vec - mean) / std
        nearest = train[int(np.argmin(((bank - q) ** 2).sum(axis=1)))]
        out[it.key] = describe(nearest.labels, nearest.context, seed=0)
    return out


def identify_section(vlm: Any, store: Any, test: list[ImageItem], report: Report) -> dict[str, Any]:
    """Distortion identification: per degradation type, how often it is named when present and not when absent."""
    texts = []
    keys = [it.key for it in test]
    for i in range(0, len(keys), 32):
        texts += vlm.identify_keys(store, keys[i:i + 32])
    truth = [{d.name for d in it.labels.distortions} for it in test]
    said = [set(parse(t).distortions) for t in texts]
    names = sorted({n for t in truth for n in t})
    rows = []
    per = {}
    for name in names:
        present = [k for k, t in enumerate(truth) if name in t]
        absent = [k for k, t in enumerate(truth) if name not in t]
        recall = np.mean([name in said[k] for k in present]) if present else float("nan")
        specificity = np.mean([name not in said[k] for k in absent]) if absent else float("nan")
        accuracy = np.mean([(name in said[k]) == (name in truth[k]) for k in range(len(test))])
        per[name] = {"n": len(present), "recall": float(recall), "specificity": float(specificity),
                     "accuracy": float(accuracy)}
        rows.append([name, len(present), f"{recall:.2f}", f"{specificity:.2f}", f"{accuracy:.3f}"])
    exact = np.mean([s == t for s, t in zip(said, truth, strict=True)])
    report.add_rows(f"Distortion identification ({len(test)} held-out CT images)",
                    ["distortion", "present in", "named when present", "not named when absent", "accuracy"], rows,
                    note=f"Exactly the right set named: {exact:.3f}.")
    return {"per_type": per, "exact_set": float(exact)}


def pair_section(vlm: Any, store: Any, test: list[ImageItem], report: Report, rng: random.Random,
                 limit: int) -> dict[str, Any]:
    """Held-out synthetic pairs of one reference: accuracy without and with the reference, both orders, beside the
    scorers' comparisons; swap consistency; explanations that state the verdict."""
    by_ref: dict[str, list[ImageItem]] = defaultdict(list)
    for it in test:
        by_ref[it.reference or ""].append(it)
    pairs = [(a, b) for members in by_ref.values() for i, a in enumerate(members) for b in members[i + 1:]
             if abs(a.labels.overall - b.labels.overall) >= TIE_GAP]
    rng.shuffle(pairs)
    pairs = pairs[:limit]
    out: dict[str, Any] = {"n": len(pairs)}
    rows = []
    for with_ref in (False, True):
        right = swap_ok = 0
        base = defaultdict(int)
        for a, b in pairs:
            truth = "A" if a.labels.overall > b.labels.overall else "B"
            kr = a.reference if with_ref else None
            ab = vlm.compare_keys(store, a.key, b.key, kr, text=False)
            ba = vlm.compare_keys(store, b.key, a.key, kr, text=False)
            right += (ab.preferred == truth) + (ba.preferred == {"A": "B", "B": "A"}[truth])
            swap_ok += int({"A": "B", "B": "A", "tie": "tie"}[ab.preferred] == ba.preferred)
            ga, gb = store.images[a.key].global_vec, store.images[b.key].global_vec
            sa, sb = float(ga[READER_NR]), float(gb[READER_NR])
            if with_ref:
                fa, fb = store.pairs[a.key, a.reference], store.pairs[b.key, b.reference]
                sa, sb = float(fa[-5]), float(fb[-5])
            base["vliqa compare (the reader's scores fix the preference)"] += int(_scored(sa, sb) == truth)
            base["reader (no reference)"] += int((ga[READER_NR] > gb[READER_NR]) == (truth == "A"))
            base["MedQM-I (no reference)"] += int((ga[MEDQM_NR] > gb[MEDQM_NR]) == (truth == "A"))
            if with_ref:
                base["reader (full-reference)"] += int((fa[-5] > fb[-5]) == (truth == "A"))
        n = max(1, len(pairs))
        label = "with reference" if with_ref else "without reference"
        out[label] = {"accuracy": right / (2 * n), "swap_consistency": swap_ok / n,
                      "baselines": {k: v / n for k, v in base.items()}}
        rows.append([f"quality VLM, {label} (both orders)", f"{right / (2 * n):.3f}", f"{swap_ok / n:.3f}"])
        rows += [[f"  {k}", f"{v / n:.3f}", ""] for k, v in base.items()]
    # explanations: do they state the verdict in the model's own words?
    sample = pairs[: min(40, len(pairs))]
    own = sum(vlm.compare_keys(store, a.key, b.key, None).model_text for a, b in sample)
    out["own_explanations"] = own / max(1, len(sample))
    report.add_rows(f"Held-out A/B pairs ({len(pairs)} pairs of one reference, overall labels >= {TIE_GAP} apart)",
                    ["comparer", "accuracy", "order-swap consistency"], rows,
                    note=f"Explanations that state the verdict in the model's own words: {own}/{len(sample)} "
                         "(the rest use the template text of the same levels).")
    return out


def real_section(vlm: Any, report: Report, console: Console, root: str | None) -> dict[str, Any]:
    """Real pairs: Mayo quarter vs full dose, reader-study LDCT vs NDCT, and denoised pairs the readers split."""
    from vliqa.data.readers import load_mayo_pairs, load_mtdgan, read_display, resolve_root

    try:
        base = resolve_root(root)
        mayo = load_mayo_pairs(base)
        mtdgan = load_mtdgan(base)
    except Exception as exc:  # noqa: BLE001 - absent shared data: say so
        report.not_run("real pairs", f"../shared/data ({exc})")
        return {}
    reader = vlm.encoder._model("reader")
    out: dict[str, Any] = {}
    rows = []
    store = vlm._store()

    def keys_of(images: list[Any], prefix: str) -> list[str]:
        return vlm._add_images(store, images, prefix)

    def both_orders(better: str, worse: str, reference: str | None = None) -> int:
        ab = vlm.compare_keys(store, better, worse, reference, text=False)
        ba = vlm.compare_keys(store, worse, better, reference, text=False)
        return int(ab.preferred == "A") + int(ba.preferred == "B")

    def tally(better: Any, worse: Any, prefix: str) -> tuple[int, int, int]:
        """Both orders of one pair: wins of the VLM alone, of `vliqa compare` (scores fix the preference), of
        the reader scorer."""
        kb, kw = keys_of([better, worse], prefix)
        pred = reader.predict([better, worse])
        s, sd = pred.overall, pred.std
        return (both_orders(kb, kw), 2 * int(_scored(s[0], s[1], sd[0], sd[1]) == "A"), 2 * int(s[0] > s[1]))

    wins = reader_wins = scored = 0
    for k, p in enumerate(mayo):
        v, c, r = tally(load(p.full), load(p.quarter), f"mayo{k}_")
        wins, scored, reader_wins = wins + v, scored + c, reader_wins + r
    out["mayo"] = {"vlm": wins, "reader": reader_wins, "vliqa_compare": scored, "n": 2 * len(mayo)}
    rows.append([f"Mayo full > quarter dose ({len(mayo)} pairs x 2 orders)", f"{wins}/{2 * len(mayo)}",
                 f"{scored}/{2 * len(mayo)}", f"{reader_wins}/{2 * len(mayo)}"])
    sets: dict[str, dict[str, Any]] = defaultdict(dict)
    for item in mtdgan:
        sets[item.group][item.method] = item
    wins = reader_wins = n = scored = 0
    for g, group in enumerate(sorted(sets)):
        members = sets[group]
        ndct = next((v for k, v in members.items() if k.lower() == "ndct"), None)
        ldct = next((v for k, v in members.items() if k.lower() == "ldct"), None)
        if ndct is None or ldct is None:
            continue
        v, c, r = tally(read_display(ndct.path), read_display(ldct.path), f"anchor{g}_")
        wins, scored, reader_wins, n = wins + v, scored + c, reader_wins + r, n + 2
    out["ndct_ldct"] = {"vlm": wins, "reader": reader_wins, "vliqa_compare": scored, "n": n}
    rows.append([f"reader-study sets: NDCT > LDCT ({n // 2} sets x 2 orders)", f"{wins}/{n}", f"{scored}/{n}",
                 f"{reader_wins}/{n}"])
    # denoised pairs the readers split clearly: composite of within-set z-scores of their three grades
    agree = reader_agree = agree_ref = reader_ref = total = scored = scored_ref = 0
    for g, group in enumerate(sorted(sets)):
        items = [v for v in sets[group].values() if not v.anchor and v.reference is not None]
        if len(items) < 2:
            continue
        comp = np.zeros(len(items))
        for key in ("noise_q", "contrast", "structure"):
            v = np.array([i.scores[key] for i in items], float)
            comp += (v - v.mean()) / (v.std() + 1e-9)
        comp /= 3
        images = [read_display(i.path) for i in items]
        reference = read_display(items[0].reference)
        keys = keys_of(images, f"set{g}_")
        (kr,) = keys_of([reference], f"setref{g}_")
        vlm._add_pairs(store, keys, images, kr, reference)
        nr_pred = reader.predict(images)
        fr_pred = reader.model.predict_pair(images, [reference] * len(images))
        nr, fr = nr_pred.overall, fr_pred.overall
        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                if abs(comp[i] - comp[j]) < 1.0:
                    continue
                total += 1
                truth = "A" if comp[i] > comp[j] else "B"
                agree += int(vlm.compare_keys(store, keys[i], keys[j], text=False).preferred == truth)
                agree_ref += int(vlm.compare_keys(store, keys[i], keys[j], kr, text=False).preferred == truth)
                reader_agree += int((nr[i] > nr[j]) == (truth == "A"))
                reader_ref += int((fr[i] > fr[j]) == (truth == "A"))
                scored += int(_scored(nr[i], nr[j], nr_pred.std[i], nr_pred.std[j]) == truth)
                scored_ref += int(_scored(fr[i], fr[j], fr_pred.std[i], fr_pred.std[j]) == truth)
    out["denoised"] = {"vlm": agree, "vlm_reference": agree_ref, "reader": reader_agree, "reader_reference": reader_ref,
                       "vliqa_compare": scored, "vliqa_compare_reference": scored_ref, "n": total}
    rows.append([f"denoised pairs the readers split clearly ({total}; composite z gap >= 1), no reference",
                 f"{agree}/{total}", f"{scored}/{total}", f"{reader_agree}/{total}"])
    rows.append(["  the same pairs with the NDCT as reference", f"{agree_ref}/{total}", f"{scored_ref}/{total}",
                 f"{reader_ref}/{total}"])
    report.add_rows("Real pairs (../shared/data)",
                    ["pairs", "quality VLM alone", "vliqa compare (scores fix the preference)", "reader scorer"], rows,
                    note="Mayo and NDCT/LDCT pairs are asked in both orders; the VLM's verdict is averaged over both "
                         "orders by construction. `vliqa compare` (the Assessor) fixes the preference slot from the "
                         "reader's scores and their uncertainty (ties within 0.05; a tie counts as wrong) and the "
                         "VLM explains it; 'quality VLM alone' is its own preference slot. The reader scorer "
                         "compares its overall scores (never a tie).")
    console.print(f"real pairs: {out}")
    return out


def photo_section(vlm: Any, report: Report, n: int) -> dict[str, Any]:
    """Photos: A/B accuracy per distortion family on pairs of held-out photographs (two distortions of one crop)."""
    if not vlm.model.config.photo_global_dim:
        report.not_run("photos", "a VLM checkpoint trained with photographs")
        return {}
    from vliqa.data.photos import photo_pairs

    store = vlm._store()
    per = defaultdict(lambda: [0, 0])
    base = defaultdict(lambda: [0, 0])
    scorer = vlm.encoder._model("photo")
    for i, pair in enumerate(photo_pairs("test", n, seed=101)):
        if abs(pair.labels_a.overall - pair.labels_b.overall) < TIE_GAP:
            continue
        truth = "A" if pair.labels_a.overall > pair.labels_b.overall else "B"
        ka, kb = vlm._add_images(store, [pair.image_a, pair.image_b], f"p{i}_")
        verdict = vlm.compare_keys(store, ka, kb, text=False).preferred
        s = scorer.predict([pair.image_a, pair.image_b]).overall
        fams = {d for d, _ in pair.distortions_a} | {d for d, _ in pair.distortions_b} or {"clean"}
        for fam in fams:
            per[fam][0] += int(verdict == truth)
            per[fam][1] += 1
            base[fam][0] += int((s[0] > s[1]) == (truth == "A"))
            base[fam][1] += 1
    rows = [[f, v[1], f"{v[0] / max(1, v[1]):.3f}", f"{base[f][0] / max(1, base[f][1]):.3f}"]
            for f, v in sorted(per.items())]
    report.add_rows("Photographs: A/B accuracy per distortion family (pairs of held-out photographs, no reference)",
                    ["family", "pairs", "quality VLM", "photo scorer"], rows,
                    note="A pair counts under each family either image shows; pairs whose labels tie are left out.")
    return {f: v[0] / max(1, v[1]) for f, v in per.items()}


def speed_section(vlm: Any, report: Report) -> dict[str, Any]:
    """CPU speed at 512 x 512 from loaded slices: captions/s, comparisons/s, beside the reader scorer alone.

    Each timed step starts from an empty per-image memo (`vliqa.core.memo`), so it pays for every feature it needs;
    one more row times captions right after the scorer, as `vliqa assess` runs them (the features reused)."""
    from vliqa.core.memo import IMAGE_MEMO
    from vliqa.io import load as load_ct

    volume = load_ct(str(Path(__file__).resolve().parents[1] / "src/vliqa/samples/abdomen_ct_dicom"))
    slices = [volume.slice(i) for i in range(16)]
    reader = vlm.encoder._model("reader")
    vlm.caption(slices[:2])  # warm up

    def rate(fn: Any, n: int) -> float:
        IMAGE_MEMO.clear()
        t = time.perf_counter()
        fn()
        return n / (time.perf_counter() - t)

    scorer_rate = rate(lambda: reader.predict(slices), len(slices))
    caption_rate = rate(lambda: vlm.caption(slices), len(slices))
    reader.predict(slices)  # the scorer's features in the memo, as after an assessment
    t = time.perf_counter()
    vlm.caption(slices)
    after_rate = len(slices) / (time.perf_counter() - t)
    compare_rate = rate(lambda: [vlm.compare(slices[i], slices[i + 8]) for i in range(4)], 4)
    report.add_rows("CPU speed, 512 x 512 CT slices (2 cores, end to end from loaded slices)",
                    ["what", "per second", "ratio to the reader scorer alone"],
                    [["reader scorer (score only)", f"{scorer_rate:.1f}", "1.00"],
                     ["quality VLM captions (batch of 16), features measured", f"{caption_rate:.1f}",
                      f"{caption_rate / scorer_rate:.2f}"],
                     ["quality VLM captions right after the scorer (its features reused, as `vliqa assess`)",
                      f"{after_rate:.1f}", f"{after_rate / scorer_rate:.2f}"],
                     ["quality VLM comparisons (no reference, with explanation)", f"{compare_rate:.2f}",
                      f"{compare_rate / scorer_rate:.3f}"]])
    return {"scorer": scorer_rate, "captions": caption_rate, "captions_after_scorer": after_rate,
            "comparisons": compare_rate}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="vlm")
    ap.add_argument("--data", default="data/vlm-ct")
    ap.add_argument("--features", default="data/vlm-features.npz")
    ap.add_argument("--root", default=None, help="shared data folder (default ../shared/data)")
    ap.add_argument("--photos", type=int, default=300, help="photo pairs (held-out photographs)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None)
    ap.add_argument("--markdown", default=None)
    args = ap.parse_args(argv)
    console = Console()
    report = Report("Vision-language model")
    started = time.perf_counter()
    vlm = load_vlm(args.model)
    results: dict[str, Any] = {}
    if not Path(args.data).is_dir():
        report.not_run("held-out CT figures", f"{args.data} (`make train-vlm` builds it)")
    else:
        store = vlm._store()
        items = ct_items((args.data,), vlm.encoder, store, Path(args.features) if args.features else None)
        test = [it for it in items if it.split == "test"]
        train = [it for it in items if it.split == "train"]
        rng = random.Random(0)
        if args.quick:
            test = rng.sample(test, min(60, len(test)))
        results["captions"] = caption_section(vlm, store, test, train, report, console)
        results["identify"] = identify_section(vlm, store, test, report)
        results["pairs"] = pair_section(vlm, store, [it for it in items if it.split == "test"], report, rng,
                                        60 if args.quick else 300)
    results["real"] = real_section(vlm, report, console, args.root)
    results["photos"] = photo_section(vlm, report, 60 if args.quick else args.photos)
    results["speed"] = speed_section(vlm, report)
    report.note(f"Model: {vlm.name} ({vlm.folder}). Run time {time.perf_counter() - started:.0f} s.")
    report.write(args.markdown)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float))
    console.print(report.text())
    return results


if __name__ == "__main__":
    main()
