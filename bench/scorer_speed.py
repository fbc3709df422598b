"""MedQM-I throughput on CPU: preprocess + forward at batch 16 on 512x512 slices, beside the bare DICOM decode rate.

All runs share one process and are interleaved (decode, scorer, decode, scorer, ...) so machine load hits
both alike; the median and the best of the repeats are reported, with the process CPU time per slice
(what a slice costs when the machine is not shared). The decode baseline is the least a reader does on
the bundled series: `dcmread(f)` then `pixel_array * RescaleSlope + RescaleIntercept` per file.
The scorer side starts from CTImages already in memory and includes windowing (3 windows + known-HU
mask at 512 px), the encoder, the attention and the expert head, in eval mode, untrained weights.

Run: `.venv/bin/python bench/scorer_speed.py [--repeats 7] [--threads 2] [--batch 16]`
A development check of the architecture (`make bench` leaves it out): the shipped models' throughput, end to end from
DICOM files beside the decode and the baselines, is in the scorer benchmark (`bench/scorer_bench.py`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch
from io_bench import SERIES, bare_pydicom  # the same bare decode loop as the loader benchmark
from safetensors.torch import save as safetensors_bytes

import vliqa
from vliqa.models.scorer import MedQMScorer, ScorerConfig, n_parameters


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Gives (wall seconds, process CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    files = sorted(p for p in SERIES.iterdir() if p.name.startswith("CT."))
    volume = vliqa.load(SERIES)
    images = [volume.slice(i % len(volume)) for i in range(args.batch)]
    model = MedQMScorer(ScorerConfig()).eval()

    def score() -> None:
        with torch.inference_mode():
            model(model.preprocess(images))

    def preprocess_only() -> None:
        model.preprocess(images)

    decode, scorer, pre = [], [], []
    bare_pydicom(files), score(), preprocess_only()  # warm-up: codec, allocator, oneDNN kernels
    for _ in range(args.repeats):
        decode.append(timed(lambda: bare_pydicom(files)))
        scorer.append(timed(score))
        pre.append(timed(preprocess_only))

    def rates(runs: list[tuple[float, float]], n: int) -> dict[str, float]:
        walls = [w for w, _ in runs]
        return {"median_per_s": n / statistics.median(walls), "best_per_s": n / min(walls),
                "cpu_ms_per_slice": 1000 * statistics.median([c for _, c in runs]) / n}

    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    result = {
        "threads": args.threads, "batch": args.batch, "repeats": args.repeats,
        "params": n_parameters(model), "checkpoint_bytes": len(safetensors_bytes(state)),
        "scorer_preprocess_plus_forward": rates(scorer, args.batch),
        "preprocess_only": rates(pre, args.batch),
        "bare_dicom_decode_jpeg2000": rates(decode, len(files)),
    }
    result["ratio_scorer_to_decode_median"] = (result["scorer_preprocess_plus_forward"]["median_per_s"]
                                               / result["bare_dicom_decode_jpeg2000"]["median_per_s"])
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
