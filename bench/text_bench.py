"""Measures the text layer: describe / parse speed and how well parse reads descriptions back.

For 1000 random label sets: milliseconds per description and per parse, and how often `parse` reads back the level
(0-4) of each aspect and of the overall score from the text it was made from, beside a keyword-only reading of the
same sentences (the baseline). Then A/B comparisons: milliseconds per pair, and how often `parse_preference` finds
the preferred image.

Run: .venv/bin/python bench/text_bench.py [--markdown FILE]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "text"))

from _report import Report  # noqa: E402
from text_cases import CONTEXTS, random_labels  # noqa: E402

from vliqa.core import level_of  # noqa: E402
from vliqa.text import compare, describe, parse, parse_preference  # noqa: E402
from vliqa.text.keywords import keyword_levels  # noqa: E402


def main(n: int = 1000) -> None:
    """Prints timings and round-trip accuracies over `n` random label sets; writes them as tables with --markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", type=Path, help="write the tables here as GitHub markdown")
    args = parser.parse_args()
    report = Report("Text layer")
    rows = []
    rng = random.Random(0)
    cases = [(random_labels(rng), rng.choice(CONTEXTS), rng.randrange(10_000)) for _ in range(n)]
    for style in ("caption", "report"):
        start = time.perf_counter()
        texts = [describe(lab, ctx, seed=seed, style=style) for lab, ctx, seed in cases]
        describe_ms = (time.perf_counter() - start) / n * 1000
        start = time.perf_counter()
        parsed = [parse(t) for t in texts]
        parse_ms = (time.perf_counter() - start) / n * 1000
        right = total = overall = keyword_right = keyword_total = 0
        for (lab, _, _), text, p in zip(cases, texts, parsed, strict=True):
            overall += p.overall == level_of(lab.overall)
            kw: dict[str, int] = {}
            for sentence in re.split(r"(?<=[.!?])\s+|\n", text):
                for aspect, level in keyword_levels(re.sub(r"^\w+ \(\w+, \d/4\): ", "", sentence)).items():
                    kw.setdefault(aspect, level)
            for aspect, level in p.aspects.items():
                if level is not None:
                    total += 1
                    right += level == level_of(lab.aspects[aspect])
                    keyword_total += 1
                    keyword_right += kw.get(aspect) == level_of(lab.aspects[aspect])
        print(f"{style}: describe {describe_ms:.3f} ms, parse {parse_ms:.3f} ms, aspect accuracy {right / total:.4f} "
              f"({total} aspects), overall {overall / n:.4f}, keyword-only {keyword_right / keyword_total:.4f}")
        rows.append((style, f"{describe_ms:.3f}", f"{parse_ms:.3f}", f"{right / total:.4f}", str(total),
                     f"{overall / n:.4f}", f"{keyword_right / keyword_total:.4f}"))
    start = time.perf_counter()
    agree = 0
    for i in range(0, n - 1, 2):
        c = compare(cases[i][0], cases[i + 1][0], cases[i][1], with_reference=bool(i % 4), seed=i)
        agree += parse_preference(c.text) == c.preferred
    compare_ms = (time.perf_counter() - start) / (n // 2) * 1000
    print(f"compare {compare_ms:.3f} ms per pair, parse_preference agreement {agree / (n // 2):.4f}")
    report.add_rows(f"describe and parse, {n} random label sets",
                    ("style", "describe ms", "parse ms", "aspect levels read back", "aspects",
                     "overall level read back", "keyword-only baseline"), rows)
    report.add_rows(f"A/B comparisons, {n // 2} pairs", ("what", "ms per pair", "preference read back"),
                    [("`compare` + `parse_preference`", f"{compare_ms:.3f}", f"{agree / (n // 2):.4f}")])
    report.write(args.markdown)


if __name__ == "__main__":
    main()
