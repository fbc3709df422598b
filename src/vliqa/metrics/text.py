"""Text metrics for generated quality descriptions: BLEU-1..4, ROUGE-L, CIDEr-D (and METEOR), and aspect accuracy.

The n-gram scorers are pycocoevalcap's (the MS-COCO caption evaluation code), which run offline in
pure Python. Their usual front end, the Stanford PTB tokenizer, is a Java program that writes temp
files into the installed package, so we tokenise in Python instead (`tokenize_caption`): lower case,
words are runs of letters/digits that may contain inner hyphens, apostrophes or decimal points
("low-dose", "0.5"), every other character is dropped. On plain English this matches the PTB
tokenizer with punctuation removed, except for contractions, which PTB splits ("don't" -> "do n't").

CIDEr-D weights n-grams by their inverse document frequency over the *whole reference set*, so it
needs a corpus: with a single item every n-gram has idf 0 and the score is 0 by construction.
METEOR runs the bundled Java jar and loads a 60 MB paraphrase table (about 20 s on 2 cores), so it
is computed only on request (`meteor=True`) and only where `java` is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from pycocoevalcap.bleu.bleu_scorer import BleuScorer
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor import meteor as meteor_module
from pycocoevalcap.rouge.rouge import Rouge

from vliqa.errors import InvalidParameterError
from vliqa.text import parse

_TOKEN = re.compile(r"[a-z0-9]+(?:['.\-][a-z0-9]+)*")

#: Keys `caption_metrics` always returns (plus "meteor" when asked for and available).
CAPTION_METRICS = ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l", "cider_d")


def tokenize_caption(text: str) -> str:
    """Gives `text` lower-cased with punctuation removed and words joined by single spaces."""
    return " ".join(_TOKEN.findall(text.lower()))


def _as_id_dicts(candidates: Mapping[Any, str] | Sequence[str],
                 references: Mapping[Any, Sequence[str]] | Sequence[Sequence[str]]
                 ) -> tuple[dict[Any, str], dict[Any, list[str]]]:
    cands = dict(candidates) if isinstance(candidates, Mapping) else dict(enumerate(candidates))
    refs = dict(references) if isinstance(references, Mapping) else dict(enumerate(references))
    if not cands:
        raise InvalidParameterError("no candidate texts to score")
    if set(cands) != set(refs):
        missing = sorted(map(str, set(cands) - set(refs)))[:5]
        extra = sorted(map(str, set(refs) - set(cands)))[:5]
        raise InvalidParameterError(
            f"candidates and references name different items (no references for {missing}, "
            f"no candidate for {extra})", hint="give one candidate and at least one reference per item id")
    out_refs: dict[Any, list[str]] = {}
    for key, cand in cands.items():
        if not isinstance(cand, str):
            raise InvalidParameterError(f"candidate {key!r} must be a string, got {type(cand).__name__}")
        item_refs = refs[key]
        if isinstance(item_refs, str) or not item_refs or not all(isinstance(r, str) for r in item_refs):
            raise InvalidParameterError(f"references for {key!r} must be a non-empty list of strings",
                                        hint="wrap a single reference in a list")
        out_refs[key] = list(item_refs)
    return cands, out_refs


def caption_metrics(candidates: Mapping[Any, str] | Sequence[str],
                    references: Mapping[Any, Sequence[str]] | Sequence[Sequence[str]], *,
                    meteor: bool = False, meteor_timeout_s: float = 300.0) -> dict[str, float]:
    """Gives corpus-level bleu1..bleu4, rouge_l and cider_d of candidates against their references.

    Candidates and references are dicts keyed by item id or parallel lists. BLEU is the corpus
    BLEU of pycocoevalcap (closest reference length for the brevity penalty); ROUGE-L and CIDEr-D are
    means over items (CIDEr-D on COCO's x10 scale, so identical texts score about 10 on a varied
    corpus). BLEU-n of a corpus without any n-word candidate is near 0 (pycocoevalcap's tiny-count
    smoothing), as is CIDEr-D of a single item (see the module notes). With `meteor=True` the result
    also holds "meteor", or raises if Java is missing.
    """
    cands, refs = _as_id_dicts(candidates, references)
    res = {k: [tokenize_caption(v)] for k, v in cands.items()}
    gts = {k: [tokenize_caption(r) for r in v] for k, v in refs.items()}

    bleu = BleuScorer(n=4)
    for key in res:
        bleu += (res[key][0], gts[key])
    # verbose=0: the Bleu wrapper prints its length statistics to stdout otherwise
    bleu_scores, _ = bleu.compute_score(option="closest", verbose=0)
    out = {f"bleu{i + 1}": float(v) for i, v in enumerate(bleu_scores)}
    out["rouge_l"] = float(Rouge().compute_score(gts, res)[0])
    out["cider_d"] = float(Cider().compute_score(gts, res)[0])
    if meteor:
        out["meteor"] = meteor_score(res, gts, timeout_s=meteor_timeout_s)
    return out


def meteor_available() -> bool:
    """Gives whether METEOR can run here (a `java` executable is on PATH)."""
    return shutil.which("java") is not None


def meteor_score(res: Mapping[Any, list[str]], gts: Mapping[Any, list[str]], *, timeout_s: float = 300.0) -> float:
    """Gives the corpus METEOR 1.5 score of tokenised candidates `res` against references `gts`.

    Drives pycocoevalcap's jar like its own wrapper does, but with a time limit: that wrapper blocks
    forever when Java dies. Raises InvalidParameterError when Java is missing or the jar fails.
    """
    if not meteor_available():
        raise InvalidParameterError("METEOR needs Java, and no `java` is on PATH",
                                    hint="install a Java runtime or call caption_metrics without meteor=True")

    jar_dir = meteor_module.__file__.rsplit("/", 1)[0]
    proc = subprocess.Popen(["java", "-jar", "-Xmx2G", meteor_module.METEOR_JAR, "-", "-", "-stdio", "-l", "en",
                             "-norm"], cwd=jar_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    result: dict[str, object] = {}

    def talk() -> None:
        try:
            stats = []
            for key in res:
                hypothesis = res[key][0].replace("|||", "")
                proc.stdin.write(f"SCORE ||| {' ||| '.join(gts[key])} ||| {hypothesis}\n".encode())
                proc.stdin.flush()
                stats.append(proc.stdout.readline().decode().strip())
            proc.stdin.write(f"EVAL ||| {' ||| '.join(stats)}\n".encode())
            proc.stdin.flush()
            for _ in res:  # one line per item, then the corpus score
                proc.stdout.readline()
            result["score"] = float(proc.stdout.readline().strip())
        except (OSError, ValueError) as exc:
            result["error"] = exc

    worker = threading.Thread(target=talk, daemon=True)
    worker.start()
    worker.join(timeout_s)
    timed_out = worker.is_alive()
    proc.kill()
    proc.wait()
    if "score" not in result:
        why = f"no answer within {timeout_s:.0f} s" if timed_out else f"{result.get('error')}"
        raise InvalidParameterError(f"METEOR (Java) failed: {why}",
                                    hint="check `java -version` works, or call caption_metrics without meteor=True")
    return float(result["score"])


def aspect_accuracy(generated: Sequence[str], true_levels: Sequence[Mapping[str, int]]) -> dict[str, dict[str, float]]:
    """Gives, per aspect and for 'overall', how often the levels stated in generated texts are right.

    Each text is read back with `vliqa.text.parse`. For every key found in `true_levels` (an aspect
    such as "noise", or "overall"): `mention_rate` is the share of items with a true level whose text
    states a level for it; `accuracy` (exact level) and `within_one` (|error| <= 1) and `mae` are over
    the items that mention it (NaN when none does); `n` and `n_mentioned` count them. The extra key
    "mean" averages accuracy and mention rate over the aspects (not 'overall') that were mentioned.
    """
    if len(generated) != len(true_levels):
        raise InvalidParameterError(f"generated has {len(generated)} texts but true_levels has {len(true_levels)}",
                                    hint="pass one dict of true levels per generated text, in the same order")
    if not generated:
        raise InvalidParameterError("no generated texts to score")
    counts: dict[str, dict[str, float]] = {}
    for i, (text, truth) in enumerate(zip(generated, true_levels, strict=True)):
        if not isinstance(text, str):
            raise InvalidParameterError(f"generated[{i}] must be a string, got {type(text).__name__}")
        parsed = parse(text)
        for key, level in truth.items():
            if level is None:
                continue
            said = parsed.overall if key == "overall" else parsed.aspects.get(key)
            c = counts.setdefault(key, {"n": 0, "n_mentioned": 0, "exact": 0, "within_one": 0, "abs_error": 0.0})
            c["n"] += 1
            if said is None:
                continue
            error = abs(int(said) - int(level))
            c["n_mentioned"] += 1
            c["exact"] += error == 0
            c["within_one"] += error <= 1
            c["abs_error"] += error
    out: dict[str, dict[str, float]] = {}
    for key, c in counts.items():
        m = c["n_mentioned"]
        out[key] = {
            "accuracy": c["exact"] / m if m else float("nan"),
            "within_one": c["within_one"] / m if m else float("nan"),
            "mae": c["abs_error"] / m if m else float("nan"),
            "mention_rate": m / c["n"],
            "n": int(c["n"]),
            "n_mentioned": int(m),
        }
    aspect_rows = [v for k, v in out.items() if k != "overall"]
    mentioned = [v for v in aspect_rows if v["n_mentioned"]]
    out["mean"] = {
        "accuracy": sum(v["accuracy"] for v in mentioned) / len(mentioned) if mentioned else float("nan"),
        "mention_rate": sum(v["mention_rate"] for v in aspect_rows) / len(aspect_rows) if aspect_rows else float("nan"),
    }
    return out
