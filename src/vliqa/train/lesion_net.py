"""Train the `lesion_net` diagnostic model on phantoms and fit its loss -> score mapping.

Reproduce the shipped checkpoint (about 12 minutes on 1 CPU core):

    python -m vliqa.train.lesion_net --out src/vliqa/models/lesion_net

Steps: (1) phantoms with known lesions, scanned at full dose and under a mix of mild
degradations (lower dose, blur, smoothing, compression, rings, sparse views, motion),
are resampled to the model grid; (2) the U-Net is trained on crops with Dice + BCE;
(3) validation Dice is measured on held-out phantoms; (4) a calibration set of phantom
samples degraded by the dataset builder's own recipes gets physics labels and relative
diagnostic losses, and `fit_sigmoid` maps one onto the other (least squares).

The steps run through `common.run_steps` (the progress bar and "vliqa.train" log lines every trainer shows).
The folder it writes is a registry checkpoint (arch `lesion_unet`, kind "diagnostic": model.safetensors,
config.json, MODEL_CARD.md) with the mapping in `sigmoid_mapping.json` beside it.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from vliqa.core import CARD_FILE, CONFIG_FILE, __version__
from vliqa.data.recipes import sample_recipe
from vliqa.errors import InvalidParameterError
from vliqa.io.write import atomic_write_text
from vliqa.labels.diagnostic import DiagnosticTruth, SigmoidMapping, fit_sigmoid
from vliqa.labels.diagnostic_models import (
    MAPPING_FILE,
    SHIPPED_NAME,
    LesionNetConfig,
    LesionNetModel,
    LesionUNet,
    forget_loaded_checkpoints,
    load_lesion_net_model,
    model_grid_shape,
    pixel_mm_of,
    resample,
    windowed,
)
from vliqa.labels.physics import physics_labels
from vliqa.metrics import srcc
from vliqa.models import SHIPPED_DIR, save_checkpoint
from vliqa.phantom import REGIONS, make_phantom
from vliqa.simulate import get_degradation
from vliqa.simulate.recipe import degrade_with_artifact_field
from vliqa.train import common

NAME = "vliqa-lesion-unet"

#: Mild degradations the training images get after the dose step (name, largest severity), so the net is not brittle.
TRAIN_AUGMENT = (("blur", 0.4), ("smooth_gaussian", 0.4), ("jpeg", 0.4), ("ring", 0.3), ("sparse_view", 0.3),
                 ("motion", 0.3), ("smooth_nlm", 0.4), ("resample", 0.4))
#: Phantom seeds of the three sets start here, far apart, so they never share a phantom.
TRAIN_SEED0, VAL_SEED0, CAL_SEED0 = 500_000, 600_000, 700_000


def _phantom_and_reference(region: str, seed: int, size_px: int, n_lesions: int | None):
    ph = make_phantom(region, size_px=size_px, seed=seed, n_lesions=n_lesions)
    # As in the dataset builder: the reference is the full-dose scan of the noise-free phantom.
    reference = get_degradation("low_dose")(ph.image, seed=seed, dose_fraction=1.0)
    return ph, reference


def _to_grid(image, mask: np.ndarray, config: LesionNetConfig) -> tuple[torch.Tensor, torch.Tensor]:
    size = model_grid_shape(image.hu.shape, pixel_mm_of(image), config)
    x = windowed(resample(image.hu, size), config)[0].half()
    y = resample(mask.astype(np.float32), size)[0].clamp(0, 1).half()
    return x, y


def make_training_pool(n_phantoms: int, *, seed: int, config: LesionNetConfig, variants: int = 3,
                       seed0: int = TRAIN_SEED0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Gives (input, lesion mask) pairs on the model grid: each phantom at full dose plus `variants - 1` degraded
    scans."""
    rng = np.random.default_rng(seed)
    pool = []
    for k in range(n_phantoms):
        region = REGIONS[k % len(REGIONS)]
        size_px = 384 if k % 4 == 3 else 256  # two matrix sizes: the net must not depend on one pixel size
        n_lesions = int(rng.choice([0, 1, 2, 3, 4], p=[0.08, 0.2, 0.27, 0.25, 0.2]))
        ph, reference = _phantom_and_reference(region, seed0 + k, size_px, n_lesions)
        pool.append(_to_grid(reference, ph.lesion_mask, config))
        for v in range(variants - 1):
            dose = float(np.exp(rng.uniform(np.log(0.06), 0.0)))
            image = get_degradation("low_dose")(reference, seed=seed0 + 97 * k + v, dose_fraction=min(dose, 1.0))
            if rng.random() < 0.6:
                name, top = TRAIN_AUGMENT[int(rng.integers(len(TRAIN_AUGMENT)))]
                image = get_degradation(name).at_severity(image, float(rng.uniform(0.0, top)), seed=k * 31 + v)
            pool.append(_to_grid(image, ph.lesion_mask, config))
    return pool


def _crop_batch(pool, batch: int, crop: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    while len(xs) < batch:
        x, y = pool[int(rng.integers(len(pool)))]
        h, w = x.shape[-2:]
        if h < crop or w < crop:
            continue
        lesion = torch.nonzero(y[0] > 0.5)
        if len(lesion) and rng.random() < 0.6:  # over-sample lesions: they cover < 1 % of a slice
            r, c = lesion[int(rng.integers(len(lesion)))].tolist()
            r0 = int(np.clip(r - rng.integers(8, crop - 8), 0, h - crop))
            c0 = int(np.clip(c - rng.integers(8, crop - 8), 0, w - crop))
        else:
            r0, c0 = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
        xc, yc = x[:, r0 : r0 + crop, c0 : c0 + crop], y[:, r0 : r0 + crop, c0 : c0 + crop]
        if rng.random() < 0.5:
            xc, yc = xc.flip(-1), yc.flip(-1)
        xs.append(xc.float())
        ys.append(yc.float())
    return torch.stack(xs), torch.stack(ys)


def fit_net(pool, config: LesionNetConfig, *, steps: int, batch_size: int, crop_px: int,
            rng: np.random.Generator, progress: bool = True) -> LesionUNet:
    """Gives a LesionUNet trained on random crops of `pool` with soft Dice (batch-pooled) + 2 x BCE, in eval mode."""
    net = LesionUNet(config)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.15)

    def train_step(_: int) -> float:
        x, y = _crop_batch(pool, batch_size, crop_px, rng)
        logits = net(x)
        prob = torch.sigmoid(logits)
        # Dice over the whole batch (one big "image"): stable even when a crop holds no lesion.
        inter, denom = (prob * y).sum(), (prob + y).sum()
        loss = (1.0 - (2 * inter + 1.0) / (denom + 1.0)) + 2.0 * F.binary_cross_entropy_with_logits(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        return float(loss.detach())

    common.run_steps(steps, train_step, title="training lesion_net", progress=progress, log_every=100)
    net.eval()
    return net


def validation_dice(net: LesionUNet, n_phantoms: int, *, dose_fraction: float, size_px: int = 256,
                    region: str | None = None) -> float:
    """Gives the Dice (threshold 0.5, pooled over slices) of the net on held-out lesion phantoms at `dose_fraction`.

    The phantoms cycle through the regions; `region` keeps only that region's.
    """
    model = LesionNetModel(net)
    inter = total = 0.0
    for k in range(n_phantoms):
        if region is not None and REGIONS[k % 3] != region:
            continue
        ph, reference = _phantom_and_reference(REGIONS[k % 3], VAL_SEED0 + k, size_px, 1 + k % 3)
        image = reference
        if dose_fraction < 1.0:
            image = get_degradation("low_dose")(reference, seed=VAL_SEED0 + k, dose_fraction=dose_fraction)
        pred = model.predict_lesions(image) > 0.5
        inter += float((pred & ph.lesion_mask).sum())
        total += float(pred.sum() + ph.lesion_mask.sum())
    return 2 * inter / max(total, 1.0)


def calibration_set(model: LesionNetModel, n: int, *, seed: int, size_px: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Gives (relative diagnostic losses, physics overall labels) of `n` phantom samples made as the dataset builder
    makes them."""
    # The dataset builder's recipe sampler, so the calibration set has the dataset's mix of degradations.
    rng = np.random.default_rng(seed)
    losses, targets = [], []
    for k in range(n):
        ph, reference = _phantom_and_reference(REGIONS[k % 3], CAL_SEED0 + k, size_px, None)
        recipe = sample_recipe(rng)
        steps = [(s.name, {"severity": s.severity}) for s in recipe.steps]
        degraded, artifact_hu = degrade_with_artifact_field(reference, steps, seed=CAL_SEED0 + k)
        mask = ph.lesion_mask if ph.lesion_mask.any() else None
        targets.append(physics_labels(degraded, reference, lesion_mask=mask, artifact_hu=artifact_hu).overall)
        losses.append(model.loss(degraded, reference, truth=DiagnosticTruth.from_phantom(ph)))
    return np.array(losses), np.array(targets)


def train_lesion_net(out_dir: str | Path, *, steps: int = 2500, seed: int = 0, n_phantoms: int = 144,
                     batch_size: int = 16,
                     crop_px: int = 64, n_calibration: int = 90, threads: int = 1, progress: bool = True) -> Path:
    """Gives the folder where it wrote a freshly trained lesion_net (weights, config, mapping, model card)."""
    if steps < 1 or n_phantoms < 4:
        raise InvalidParameterError(f"steps={steps} and n_phantoms={n_phantoms} must be at least 1 and 4")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    config = LesionNetConfig()
    t0, cpu0 = time.time(), time.process_time()
    pool = make_training_pool(n_phantoms, seed=seed, config=config)
    data_s = time.time() - t0
    common.logger.info("lesion_net training pool: %d slices in %.1f s", len(pool), data_s)

    t1 = time.time()
    net = fit_net(pool, config, steps=steps, batch_size=batch_size, crop_px=crop_px, rng=rng, progress=progress)
    train_s = time.time() - t1
    dice_full = validation_dice(net, 12, dose_fraction=1.0)
    dice_low = validation_dice(net, 12, dose_fraction=0.1)
    dice_regions = {r: [round(validation_dice(net, 24, dose_fraction=d, region=r), 3) for d in (1.0, 0.1)]
                    for r in REGIONS}
    common.logger.info("lesion_net validation Dice: full dose %.3f, 10 %% dose %.3f; by region (full, 10 %%) %s",
                       dice_full, dice_low, dice_regions)

    t2 = time.time()
    losses, targets = calibration_set(LesionNetModel(net), n_calibration, seed=seed + 1)
    mapping = fit_sigmoid(losses, targets,
                          fitted_to=f"physics overall labels of {n_calibration} phantom samples (dataset recipes, 256 "
                                    "px)")
    cal_s = time.time() - t2
    cal_srcc = float(srcc(losses * -1.0, targets))
    common.logger.info("lesion_net mapping a=%.4f b=%.4f; calibration SRCC %.3f (%.1f s)", mapping.a, mapping.b,
                       cal_srcc, cal_s)

    mapping.to_json(out_dir / MAPPING_FILE)
    training = {
        "steps": steps, "seed": seed, "batch_size": batch_size, "crop_px": crop_px, "n_phantoms": n_phantoms,
        "n_training_slices": len(pool), "data_seconds": round(data_s, 1), "train_seconds": round(train_s, 1),
        "calibration_seconds": round(cal_s, 1), "total_cpu_seconds": round(time.process_time() - cpu0, 1),
        "val_dice_full_dose": round(dice_full, 4), "val_dice_10pct_dose": round(dice_low, 4),
        "val_dice_by_region_full_10pct": dice_regions,
        "n_calibration": n_calibration, "calibration_srcc": round(cal_srcc, 4),
        "n_params": sum(p.numel() for p in net.parameters()), "torch": torch.__version__, "threads": threads,
    }
    # config.json comes last (save_checkpoint writes it after the weights and card): a whole checkpoint, mapping
    # included
    return save_checkpoint(net, config, out_dir, _model_card(config, training, mapping),
                           metadata={"name": NAME, "training": training})


def recalibrate_lesion_net(folder: str | Path, *, n_calibration: int | None = None) -> Path:
    """Refits the sigmoid mapping of a trained lesion_net to the current physics labels, keeping its weights; gives the
    folder.

    The mapping is fitted to physics overall labels, so it goes stale when the physics labeller changes (as in
    0.5.0 and 0.6.0: CHANGELOG.md, docs/labels.md); the U-Net itself does not depend on them. Same calibration samples
    as
    training made (seed + 1), unless `n_calibration` asks for another count.
    """
    folder = Path(folder)
    model = load_lesion_net_model(folder)
    cfg = json.loads((folder / CONFIG_FILE).read_text())
    training = cfg["metadata"]["training"]
    n = int(n_calibration or training["n_calibration"])
    t0 = time.time()
    losses, targets = calibration_set(model, n, seed=int(training["seed"]) + 1)
    mapping = fit_sigmoid(losses, targets,
                          fitted_to=f"physics overall labels of {n} phantom samples (dataset recipes, 256 px)")
    training.update({"n_calibration": n, "calibration_srcc": round(float(srcc(losses * -1.0, targets)), 4),
                     "calibration_seconds": round(time.time() - t0, 1), "recalibrated": True,
                     "labels_version": __version__})
    mapping.to_json(folder / MAPPING_FILE)
    atomic_write_text(folder / CONFIG_FILE, json.dumps(cfg, indent=2) + "\n")
    atomic_write_text(folder / CARD_FILE, _model_card(model.config, training, mapping))
    forget_loaded_checkpoints()  # a later load in this process must see the new mapping
    return folder


_RECALIBRATED = """
The mapping was refitted to the physics labels of vliqa {labels_version} without retraining the net
(`python -m vliqa.train.lesion_net --recalibrate`); the calibration samples are the training run's."""


def _recalibrated_note(t: dict) -> str:
    """The card's note on a refitted mapping, naming the vliqa version whose physics labels it follows."""
    if not t.get("recalibrated"):
        return ""
    return _RECALIBRATED.format(labels_version=t.get("labels_version", "a later version than the net's"))


def _model_card(config: LesionNetConfig, t: dict, mapping) -> str:
    return f"""# {NAME}: the `lesion_net` diagnostic model of MedQM-D (phantoms only)

**Purpose.** Gives MedQM-D diagnostic labels: how much worse a small lesion segmenter does on a degraded CT
slice than on its clean reference (`vliqa.labels.diagnostic`). It is *not* a clinical lesion detector.

**Architecture.** U-Net, {len(config.channels)} levels ({', '.join(map(str, config.channels))} channels), two 3x3
conv + ReLU per block, max-pool down, transposed-conv up, 1x1 head; {t['n_params']} parameters. Input: the slice
resampled to {config.pixel_mm} mm pixels, windowed three ways (level/width \
{', '.join(f'{lv:g}/{wd:g}' for lv, wd in config.windows)} HU:
brain, liver, lung) as channels. Output: lesion probability per pixel.

**Data.** {t['n_phantoms']} procedural phantoms (`vliqa.phantom`, abdomen/chest/head in turn, seeds from {TRAIN_SEED0},
0-4 lesions; 256 px, every fourth 384 px), each at full dose (the dataset builder's reference) and in
2 degraded scans: dose fraction log-uniform 6-100 % (`low_dose`), then with probability 0.6 one mild
degradation ({', '.join(n for n, _ in TRAIN_AUGMENT)}, severity up to 0.3-0.4): {t['n_training_slices']} slices.
True lesion masks come from the phantom.

**Recipe.** {t['steps']} Adam steps (one-cycle, peak lr 3e-3), batch {t['batch_size']} crops of \
{t['crop_px']}x{t['crop_px']} model pixels
(60 % centred near a lesion, random flips), loss soft Dice (batch-pooled) + 2 x BCE, seed {t['seed']}, {t['threads']} \
CPU thread(s).
Data {t['data_seconds']} s, training {t['train_seconds']} s, calibration {t['calibration_seconds']} s (wall; \
{t['total_cpu_seconds']} s CPU in all).

**Validation.** Dice (threshold 0.5, pooled) on 12 held-out phantoms with 1-3 lesions at 256 px:
{t['val_dice_full_dose']} at full dose, {t['val_dice_10pct_dose']} at 10 % dose. By region (8 phantoms each,
full dose / 10 % dose): {", ".join(f"{r} {v[0]} / {v[1]}" for r, v in t['val_dice_by_region_full_10pct'].items())}.

**Diagnostic loss and mapping.** Relative loss L = (1 - soft Dice + BCE in the body) on the degraded slice minus
the same on the reference, against the true lesion mask (phantoms) or the model's own output on the reference
(real images). Score q = 4 sigmoid((a - L)/b) / sigmoid(a/b), with a = {mapping.a:.4f}, b = {mapping.b:.4f} fitted by \
least
squares to the physics overall labels of {t['n_calibration']} phantom samples degraded with the dataset recipes
(SRCC of -L with the physics labels there: {t['calibration_srcc']}). Stored in `{MAPPING_FILE}`.{_recalibrated_note(t)}

**Limitations.** Trained for minutes on synthetic phantoms; not a clinical detector. It finds the faint
(4-15 HU) head lesions and loses them as dose falls, and finds the high-contrast chest nodules at every dose
(their diagnostic quality barely moves with dose, as it should for a task that dose does not limit). It
finds **no abdominal lesion**: the phantom liver's own round vessels and texture spots have the lesions'
size and contrast, so the abdominal task is ill-posed and abdominal losses move only with false positives.
Its loss responds most to what breaks segmentation: streaks and motion (limited angle, motion), heavy
smoothing of faint lesions, and low dose in the head. On real CT it finds few lesions: real-image labels
rest on pseudo-truth (changes of its output against the reference).

**Reproduce.** `python -m vliqa.train.lesion_net --out src/vliqa/models/lesion_net --steps {t['steps']} --phantoms \
{t['n_phantoms']} --seed {t['seed']}` (`make lesion-net`)
(bit-identical weights need the same torch version ({t['torch']}) and thread count).
"""


def main(argv: list[str] | None = None) -> None:
    """Trains lesion_net (or refits its mapping) from the command line and says where it went."""
    parser = argparse.ArgumentParser(
        description="Train vliqa's lesion_net diagnostic model (reproduces the shipped checkpoint).")
    parser.add_argument("--out", type=Path, default=SHIPPED_DIR / SHIPPED_NAME, help="output folder")
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--phantoms", type=int, default=144, help="training phantoms")
    parser.add_argument("--calibration", type=int, default=None,
                        help="calibration samples for the sigmoid fit (default 90; with --recalibrate, the training "
                             "run's)")
    # One thread by default: on a shared 2-core machine two threads ran this small net 2-3x slower.
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--recalibrate", action="store_true",
                        help="keep the weights in --out and refit only the sigmoid mapping to the current physics "
                             "labels")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.recalibrate:
        folder = recalibrate_lesion_net(args.out, n_calibration=args.calibration)
        training = json.loads((folder / CONFIG_FILE).read_text())["metadata"]["training"]
        mapping = SigmoidMapping.from_json(folder / MAPPING_FILE)
        print(f"wrote {folder}: mapping a={mapping.a:.4f} b={mapping.b:.4f}; calibration SRCC "
              f"{training['calibration_srcc']:.3f} ({training['calibration_seconds']} s)")
        return
    out = train_lesion_net(args.out, steps=args.steps, seed=args.seed, n_phantoms=args.phantoms,
                           n_calibration=args.calibration or 90, threads=args.threads)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
