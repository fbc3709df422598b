"""The system prompt the LLM backends send: two Jinja2 files a site can edit (`prompts/`, or its own `--prompt-dir`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jinja2

from vliqa.assessment import Assessment, VolumeAssessment
from vliqa.chat.grounding import level_meaning, overall_of
from vliqa.errors import PromptTemplateError
from vliqa.report import build_report

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
SYSTEM_PROMPT = "system.md.j2"
GROUNDING_PROMPT = "grounding.md.j2"
PROMPT_FILES = (SYSTEM_PROMPT, GROUNDING_PROMPT)


def kind_of(assessment: Assessment | VolumeAssessment) -> str:
    """Gives "series" for a VolumeAssessment, "slice" for an Assessment."""
    return "series" if isinstance(assessment, VolumeAssessment) else "slice"


def score_text(assessment: Assessment | VolumeAssessment) -> str:
    """Gives the overall score in words the prompt and the embedded answers share: "2.26 of 4 (fair)"."""
    score, level = overall_of(assessment)
    if score is None:
        own = assessment.summary.mean if isinstance(assessment, VolumeAssessment) else assessment.score
        return f"{own:.3g} on the model's own scale (no 0-4 level)" if math.isfinite(own) else "not assessable"
    return f"{score:.2f} of 4 ({level})"


def _finite(values: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v), 3) for k, v in values.items() if v is not None and math.isfinite(v)}


def prompt_fields(assessment: Assessment | VolumeAssessment) -> dict[str, Any]:
    """Gives the fields the prompt templates can use (listed at the top of grounding.md.j2)."""
    score, level = overall_of(assessment)
    report = build_report(assessment, figures=False)
    full = assessment.to_dict()
    compact = full
    if isinstance(assessment, VolumeAssessment):  # every slice's JSON would fill a small model's context
        compact = {k: v for k, v in full.items() if k != "slices"}
        compact["slice_scores"] = [round(s.score, 2) if math.isfinite(s.score) else None for s in assessment.slices]
    return {
        "kind": kind_of(assessment), "source": assessment.path,
        "n_slices": len(assessment.slices) if isinstance(assessment, VolumeAssessment) else None,
        "score": score, "level": level, "level_meaning": level_meaning(score) if score is not None else None,
        "score_text": score_text(assessment), "aspects": _finite({f.aspect: f.score for f in report.findings}),
        "distortions": {d.name: round(float(d.confidence), 2) for d in report.distortions},
        "measures": _finite({m.key: m.value for m in report.measures}), "description": report.description,
        "out_of_distribution": any("distribution" in w for w in report.warnings), "warnings": list(report.warnings),
        "notes": list(getattr(assessment, "notes", ())), "model": assessment.model,
        "assessment_json": json.dumps(compact, separators=(",", ":"), default=str),
        "full_json": json.dumps(full, separators=(",", ":"), default=str),
    }


def _environment(prompt_dir: str | Path | None) -> jinja2.Environment:
    folders = [PROMPTS_DIR]
    if prompt_dir is not None:
        folder = Path(prompt_dir).expanduser()
        if not folder.is_dir():
            raise PromptTemplateError("the prompt folder does not exist", path=folder,
                                      hint=f"copy {PROMPTS_DIR} there and edit the copies")
        if not any((folder / name).is_file() for name in PROMPT_FILES):
            raise PromptTemplateError(f"the prompt folder has neither {' nor '.join(PROMPT_FILES)}", path=folder,
                                      hint=f"copy the files of {PROMPTS_DIR} there and edit them")
        folders.insert(0, folder)  # a file the folder lacks comes from the shipped prompts
    return jinja2.Environment(loader=jinja2.FileSystemLoader([str(f) for f in folders]), autoescape=False,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _render(env: jinja2.Environment, name: str, fields: dict[str, Any]) -> str:
    try:
        template = env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        raise PromptTemplateError(f"line {exc.lineno}: {exc.message}", path=exc.filename or name,
                                  hint="fix the prompt (Jinja2 syntax)") from exc
    except jinja2.TemplateNotFound as exc:  # a shipped prompt missing: a broken install
        raise PromptTemplateError(f"the prompt {name} is missing", path=PROMPTS_DIR, hint="reinstall vliqa") from exc
    try:
        return template.render(**fields).strip()
    except jinja2.TemplateError as exc:  # a field the prompt names that does not exist
        raise PromptTemplateError(f"cannot render: {exc}", path=template.filename or name,
                                  hint=f"a prompt may use only the fields listed in {GROUNDING_PROMPT}") from exc


def system_prompt(assessment: Assessment | VolumeAssessment, *, prompt_dir: str | Path | None = None) -> str:
    """Gives the system prompt grounded on `assessment`: system.md.j2 with grounding.md.j2 rendered into it."""
    env = _environment(prompt_dir)
    fields = prompt_fields(assessment)
    fields["grounding"] = _render(env, GROUNDING_PROMPT, fields)
    return _render(env, SYSTEM_PROMPT, fields)
