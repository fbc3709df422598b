"""A tiny residual CNN denoiser (DnCNN-lite) trained with plain MSE: the waxy look of deep-learning denoisers.

An MSE-trained network predicts the conditional mean of the clean image, so it
removes noise together with the fine texture and faint detail that the noise
hides: exactly the over-smoothed, plastic look readers dislike in many
deep-learning denoised CT images. That look is what `smooth_cnn` simulates; the
network is not meant to be a good denoiser.

Reproduce the shipped checkpoint (about 3-4 minutes on 2 CPU cores):

    python -m vliqa.simulate.cnn_denoiser --out src/vliqa/models/denoiser
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vliqa.errors import CorruptFileError, DatasetError, InvalidParameterError

#: Where the shipped checkpoint lives (src/vliqa/models/denoiser).
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "models" / "denoiser"
#: Clean training slices that ship with vliqa, so the recipe runs from the repository alone.
BUNDLED_DATA_DIRS = (
    Path(__file__).resolve().parents[1] / "samples" / "abdomen_ct_dicom",
    Path(__file__).resolve().parents[1] / "samples" / "head_ct_dicom",
)


@dataclass(frozen=True)
class DenoiserConfig:
    """Architecture and input scaling of the CNN denoiser (stored as config.json beside the weights)."""

    channels: int = 16
    #: one 3x3 conv per entry; receptive field = 1 + 2 * sum(dilations) pixels
    dilations: tuple[int, ...] = (1, 2, 3, 3, 2, 1)
    #: network input = (HU - hu_offset) / hu_scale: soft tissue near 0, air and bone a few units away
    hu_offset: float = 40.0
    hu_scale: float = 400.0


class DenoiserNet(nn.Module):
    """Gives the denoised normalised image: input minus a predicted noise map (residual learning)."""

    def __init__(self, config: DenoiserConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        n = len(config.dilations)
        for i, d in enumerate(config.dilations):
            c_in = 1 if i == 0 else config.channels
            c_out = 1 if i == n - 1 else config.channels
            layers.append(nn.Conv2d(c_in, c_out, 3, padding=d, dilation=d, padding_mode="reflect", bias=True))
            if i < n - 1:
                layers.append(nn.ReLU(inplace=True))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.body(x)


# ---------------------------------------------------------------- CT-like noise


def ct_noise(shape: tuple[int, ...], generator: torch.Generator, cutoff: torch.Tensor) -> torch.Tensor:
    """Gives unit-variance noise with a CT-like power spectrum (ramp times window), one field per leading index.

    Filtered back projection shapes white projection noise into an image noise
    power spectrum proportional to |f| times the squared reconstruction window:
    no power at DC, a peak at mid frequencies. The filter on white noise is
    therefore sqrt(|f|) times a Hann window reaching zero at `cutoff`
    (cycles/pixel, one per field: softer or sharper kernels).
    """
    h, w = shape[-2:]
    fy = torch.fft.fftfreq(h).view(-1, 1)
    fx = torch.fft.fftfreq(w).view(1, -1)
    f = torch.sqrt(fy**2 + fx**2)
    cut = cutoff.view(-1, *([1] * (len(shape) - 1)))
    window = torch.where(f < cut, 0.5 * (1 + torch.cos(torch.pi * f / cut)), torch.zeros(()))
    filt = torch.sqrt(f) * window
    white = torch.randn(shape, generator=generator)
    noise = torch.fft.ifft2(torch.fft.fft2(white) * filt).real
    # unit variance: white noise of variance 1 filtered by H has variance mean(|H|^2)
    return noise / torch.sqrt((filt**2).mean(dim=(-2, -1), keepdim=True))


# ---------------------------------------------------------------- data


def load_clean_slices(data_dirs: tuple[Path, ...]) -> list[np.ndarray]:
    """Gives every DICOM slice under `data_dirs` as float32 HU (padding below -1024 set to air)."""
    import pydicom

    slices = []
    for folder in data_dirs:
        if not folder.is_dir():
            raise DatasetError(f"training data folder {folder} does not exist", path=folder, hint="pass existing DICOM folders with --data")
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
        raise DatasetError(f"no DICOM slices found under {', '.join(map(str, data_dirs))}", hint="pass folders of CT DICOM files")
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
) -> Path:
    """Gives the folder where it wrote a freshly trained denoiser (model.safetensors, config.json, MODEL_CARD.md)."""
    from safetensors.torch import save_file

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
    t0, cpu0 = time.time(), time.process_time()
    for step in range(steps):
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
        if step % 250 == 0 or step == steps - 1:
            print(f"step {step:5d}  train RMSE {float(loss.detach()) ** 0.5 * config.hu_scale:6.2f} HU  {time.time() - t0:6.1f} s", flush=True)
    train_s, train_cpu_s = time.time() - t0, time.process_time() - cpu0
    model.eval()
    with torch.no_grad():
        val_in = float(nn.functional.mse_loss(val_noisy, val_clean)) ** 0.5 * config.hu_scale
        val_out = float(nn.functional.mse_loss(model(val_noisy), val_clean)) ** 0.5 * config.hu_scale
    n_params = sum(p.numel() for p in model.parameters())
    weights = out_dir / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    weights.chmod(0o644)  # safetensors writes 0600; the shipped file must be readable by every user
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
        "n_params": n_params,
    }
    cfg = {"name": "vliqa-dncnn-lite", **asdict(config), "training": training}
    (out_dir / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (out_dir / "MODEL_CARD.md").write_text(_model_card(config, training))
    return out_dir


def _model_card(config: DenoiserConfig, t: dict) -> str:
    return f"""# vliqa-dncnn-lite: a tiny MSE CT denoiser (for simulation only)

**Purpose.** Produces the over-smoothed, waxy look of MSE-trained deep-learning CT denoisers, so that
`vliqa.simulate` (`smooth_cnn`) can make training and benchmark images of that kind. It is *not* a
denoiser to use on patient images.

**Architecture.** {len(config.dilations)} 3x3 conv layers (dilations {list(config.dilations)}), {config.channels} channels,
ReLU, residual output (input minus predicted noise), reflect padding; {t['n_params']} parameters.
Input (HU - {config.hu_offset:g}) / {config.hu_scale:g}.

**Data.** Clean targets: {t['n_slices']} real CT slices bundled with vliqa ({', '.join(t['data'])}; see
`vliqa/samples/README.md` for sources and licences). Inputs: the same patches plus CT-like noise (white
Gaussian noise filtered by sqrt(|f|) times a Hann window with cutoff 0.35-0.5 cycles/pixel, so the noise
power spectrum is ramp times window as in filtered back projection) with sigma {t['noise_sigma_hu'][0]:g}-{t['noise_sigma_hu'][1]:g} HU.
The targets keep their own full-dose noise (about 13 HU in liver).

**Recipe.** {t['steps']} Adam steps (lr 1e-3, cosine to 5e-5), batch {t['batch_size']} patches of {t['patch_px']}x{t['patch_px']},
plain MSE, seed {t['seed']}, 2 CPU threads: {t['train_seconds']} s wall, {t['train_cpu_seconds']} s CPU.

**Result.** On 256 fixed validation patches with 40 HU CT-like noise: RMSE to the target
{t['val_rmse_noisy_hu']} HU before, {t['val_rmse_denoised_hu']} HU after.

**Limitations.** Trained for minutes on 22 slices: it erases fine texture and faint detail by design,
flattens trabecular bone and can leave small bright spots in it after two passes. Inference on a
512x512 slice takes about 0.15 s per pass on 2 CPU threads.

**Reproduce.** `python -m vliqa.simulate.cnn_denoiser --out src/vliqa/models/denoiser --steps {t['steps']} --seed {t['seed']}`
(bit-identical weights need the same torch version and thread count).
"""


# ---------------------------------------------------------------- inference


@lru_cache(maxsize=4)
def load_denoiser(path: str | None = None) -> DenoiserNet:
    """Gives the denoiser stored in folder `path` (default: the shipped one), loaded once per process."""
    from vliqa.models.plain_checkpoint import load_state, read_plain_checkpoint

    folder = Path(path) if path else SHIPPED_DIR
    raw, tensors = read_plain_checkpoint(
        folder, what="denoiser", hint="run `python -m vliqa.simulate.cnn_denoiser --out src/vliqa/models/denoiser` to train it")
    try:
        config = DenoiserConfig(channels=int(raw["channels"]), dilations=tuple(int(d) for d in raw["dilations"]),
                                hu_offset=float(raw["hu_offset"]), hu_scale=float(raw["hu_scale"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptFileError(f"the denoiser config lacks a valid {exc}", path=folder / "config.json",
                               hint="re-train it: python -m vliqa.simulate.cnn_denoiser") from exc
    model = load_state(DenoiserNet(config), tensors, what="denoiser", folder=folder)
    return model


def denoise_hu(hu: np.ndarray, *, passes: int = 1, path: str | None = None, threads: int = 2) -> list[np.ndarray]:
    """Gives the HU image after 1..`passes` applications of the denoiser (one array per pass)."""
    model = load_denoiser(path)
    cfg = model.config
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = torch.from_numpy((np.asarray(hu, dtype=np.float32) - cfg.hu_offset) / cfg.hu_scale)[None, None]
        outs = []
        with torch.inference_mode():
            for _ in range(passes):
                x = model(x)
                outs.append(x[0, 0].numpy() * cfg.hu_scale + cfg.hu_offset)
    finally:
        torch.set_num_threads(old_threads)
    return outs


def main(argv: list[str] | None = None) -> None:
    """Trains the denoiser from the command line and prints where it went."""
    parser = argparse.ArgumentParser(description="Train vliqa's tiny MSE CT denoiser (reproduces the shipped checkpoint).")
    parser.add_argument("--out", type=Path, default=SHIPPED_DIR, help="output folder")
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, nargs="*", default=None, help="DICOM folders of clean slices (default: bundled samples)")
    args = parser.parse_args(argv)
    data = tuple(args.data) if args.data else BUNDLED_DATA_DIRS
    out = train_cnn_denoiser(args.out, steps=args.steps, seed=args.seed, data_dirs=data)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
