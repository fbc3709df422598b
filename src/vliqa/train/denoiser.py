"""Training the tiny MSE CNN denoiser that `smooth_cnn` uses (`vliqa.simulate.cnn_denoiser`): the shipped checkpoint's
recipe.

Reproduce the shipped checkpoint (about 3-4 minutes on 2 CPU cores; `make denoiser`):

    python -m vliqa.train.denoiser --out src/vliqa/models/denoiser --steps 1200 --seed 0

Clean patches of the bundled real slices get CT-like noise (`ct_noise`) and the network learns to remove it
with plain MSE, one random batch per step (`common.run_steps`: the same progress bar and "vliqa.train" log
lines as every trainer). The folder it writes is a registry checkpoint (arch `cnn_denoiser`, kind
"simulation": model.safetensors, config.json, MODEL_CARD.md), loaded with `vliqa.models.load`.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pydicom
import torch
from torch import nn

from vliqa.errors import DatasetError, InvalidParameterError
from vliqa.models import SHIPPED_DIR, save_checkpoint
from vliqa.simulate.cnn_denoiser import SHIPPED_NAME, DenoiserConfig, DenoiserNet, ct_noise
from vliqa.train import common

#: Clean training slices that ship with vliqa, so the recipe runs from the repository alone.
BUNDLED_DATA_DIRS = (
    Path(__file__).resolve().parents[1] / "samples" / "abdomen_ct_dicom",
    Path(__file__).resolve().parents[1] / "samples" / "head_ct_dicom",
)
NAME = "vliqa-dncnn-lite"


# ---------------------------------------------------------------- data


def load_clean_slices(data_dirs: tuple[Path, ...]) -> list[np.ndarray]:
    """Gives every DICOM slice under `data_dirs` as float32 HU (padding below -1024 set to air)."""
    slices = []
    for folder in data_dirs:
        if not folder.is_dir():
            raise DatasetError(f"training data folder {folder} does not exist", path=folder,
                               hint="pass existing DICOM folders with --data")
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.suffix.lower() in (".txt", ".md", ".json"):
                continue
            try:
                ds = pydicom.dcmread(path)
                hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
            except Exception:  # noqa: BLE001 - not a decodable DICOM image (licence, DICOMDIR): skip it
                continue
            if hu.ndim == 2 and min(hu.shape) >= 128:
                slices.append(np.maximum(hu, -1024.0))
    if not slices:
        raise DatasetError(f"no DICOM slices found under {', '.join(map(str, data_dirs))}",
                           hint="pass folders of CT DICOM files")
    return slices


def _patch_pool(slices: list[np.ndarray], patch: int, rng: np.random.Generator, n: int) -> np.ndarray:
    """Gives `n` patches (n, patch, patch) drawn from the slices, most of each inside the body."""
    out = np.empty((n, patch, patch), dtype=np.float32)
    k = 0
    while k < n:
        sl = slices[rng.integers(len(slices))]
        r = rng.integers(0, sl.shape[0] - patch)
        c = rng.integers(0, sl.shape[1] - patch)
        p = sl[r : r + patch, c : c + patch]
        if (p > -900).mean() < 0.6:  # mostly air teaches nothing about texture
            continue
        out[k] = p[:: rng.choice([-1, 1]), :: rng.choice([-1, 1])]
        k += 1
    return out


# ---------------------------------------------------------------- training


def train_cnn_denoiser(
    out_dir: str | Path,
    *,
    steps: int = 1200,
    seed: int = 0,
    batch_size: int = 16,
    patch_px: int = 64,
    noise_sigma_hu: tuple[float, float] = (20.0, 60.0),
    data_dirs: tuple[Path, ...] = BUNDLED_DATA_DIRS,
    threads: int = 2,
    progress: bool = True,
) -> Path:
    """Gives the folder where it wrote a freshly trained denoiser checkpoint (model.safetensors, config.json,
    MODEL_CARD.md)."""
    if steps < 1:
        raise InvalidParameterError(f"steps={steps} must be at least 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    config = DenoiserConfig()
    slices = load_clean_slices(data_dirs)
    pool = torch.from_numpy(_patch_pool(slices, patch_px, rng, 6000)).unsqueeze(1)
    pool = (pool - config.hu_offset) / config.hu_scale
    # a fixed validation batch with fixed noise, to report a comparable loss
    val_gen = torch.Generator().manual_seed(seed + 1)
    val_clean = torch.from_numpy(_patch_pool(slices, patch_px, np.random.default_rng(seed + 1), 256)).unsqueeze(1)
    val_clean = (val_clean - config.hu_offset) / config.hu_scale
    val_sigma = torch.full((256, 1, 1, 1), 40.0 / config.hu_scale)
    val_noisy = val_clean + val_sigma * ct_noise(tuple(val_clean.shape), val_gen, torch.full((256,), 0.45))

    model = DenoiserNet(config)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=5e-5)
    lo, hi = noise_sigma_hu

    def train_step(_: int) -> float:
        idx = torch.randint(0, pool.shape[0], (batch_size,), generator=gen)
        clean = pool[idx]
        sigma = (lo + (hi - lo) * torch.rand(batch_size, 1, 1, 1, generator=gen)) / config.hu_scale
        cutoff = 0.35 + 0.15 * torch.rand(batch_size, generator=gen)
        noisy = clean + sigma * ct_noise(tuple(clean.shape), gen, cutoff)
        loss = nn.functional.mse_loss(model(noisy), clean)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        return float(loss.detach())

    t0, cpu0 = time.time(), time.process_time()
    common.run_steps(steps, train_step, title="training denoiser", progress=progress, log_every=250,
                     describe=lambda loss: f"train RMSE {loss ** 0.5 * config.hu_scale:6.2f} HU")
    train_s, train_cpu_s = time.time() - t0, time.process_time() - cpu0
    model.eval()
    with torch.no_grad():
        val_in = float(nn.functional.mse_loss(val_noisy, val_clean)) ** 0.5 * config.hu_scale
        val_out = float(nn.functional.mse_loss(model(val_noisy), val_clean)) ** 0.5 * config.hu_scale
    common.logger.info("denoiser validation RMSE: %.2f HU noisy, %.2f HU denoised", val_in, val_out)
    training = {
        "steps": steps,
        "seed": seed,
        "batch_size": batch_size,
        "patch_px": patch_px,
        "noise_sigma_hu": list(noise_sigma_hu),
        "n_slices": len(slices),
        "data": [p.name for p in data_dirs],
        "train_seconds": round(train_s, 1),
        "train_cpu_seconds": round(train_cpu_s, 1),
        "val_rmse_noisy_hu": round(val_in, 2),
        "val_rmse_denoised_hu": round(val_out, 2),
        "n_params": sum(p.numel() for p in model.parameters()),
    }
    return save_checkpoint(model, config, out_dir, model_card(config, training),
                           metadata={"name": NAME, "training": training})


def model_card(config: DenoiserConfig, t: dict) -> str:
    """Gives the MODEL_CARD.md text of a trained denoiser from its config and training record `t`."""
    return f"""# {NAME}: a tiny MSE CT denoiser (for simulation only)

**Purpose.** Produces the over-smoothed, waxy look of MSE-trained deep-learning CT denoisers, so that
`vliqa.simulate` (`smooth_cnn`) can make training and benchmark images of that kind. It is *not* a
denoiser to use on patient images.

**Architecture.** {len(config.dilations)} 3x3 conv layers (dilations {list(config.dilations)}), {config.channels} \
channels,
ReLU, residual output (input minus predicted noise), reflect padding; {t['n_params']} parameters.
Input (HU - {config.hu_offset:g}) / {config.hu_scale:g}.

**Data.** Clean targets: {t['n_slices']} real CT slices bundled with vliqa ({', '.join(t['data'])}; see
`vliqa/samples/README.md` for sources and licences). Inputs: the same patches plus CT-like noise (white
Gaussian noise filtered by sqrt(|f|) times a Hann window with cutoff 0.35-0.5 cycles/pixel, so the noise
power spectrum is ramp times window as in filtered back projection) with sigma \
{t['noise_sigma_hu'][0]:g}-{t['noise_sigma_hu'][1]:g} HU.
The targets keep their own full-dose noise (about 13 HU in liver).

**Recipe.** {t['steps']} Adam steps (lr 1e-3, cosine to 5e-5), batch {t['batch_size']} patches of \
{t['patch_px']}x{t['patch_px']},
plain MSE, seed {t['seed']}, 2 CPU threads: {t['train_seconds']} s wall, {t['train_cpu_seconds']} s CPU.

**Result.** On 256 fixed validation patches with 40 HU CT-like noise: RMSE to the target
{t['val_rmse_noisy_hu']} HU before, {t['val_rmse_denoised_hu']} HU after.

**Limitations.** Trained for minutes on 22 slices: it erases fine texture and faint detail by design,
flattens trabecular bone and can leave small bright spots in it after two passes. Inference on a
512x512 slice takes about 0.15 s per pass on 2 CPU threads.

**Reproduce.** `python -m vliqa.train.denoiser --out src/vliqa/models/{SHIPPED_NAME} --steps {t['steps']} --seed \
{t['seed']}` (`make denoiser`)
(bit-identical weights need the same torch version and thread count).
"""


def main(argv: list[str] | None = None) -> None:
    """Trains the denoiser from the command line and says where it went."""
    parser = argparse.ArgumentParser(
        description="Train vliqa's tiny MSE CT denoiser (reproduces the shipped checkpoint).")
    parser.add_argument("--out", type=Path, default=SHIPPED_DIR / SHIPPED_NAME, help="output folder")
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, nargs="*", default=None,
                        help="DICOM folders of clean slices (default: bundled samples)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data = tuple(args.data) if args.data else BUNDLED_DATA_DIRS
    out = train_cnn_denoiser(args.out, steps=args.steps, seed=args.seed, data_dirs=data)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
