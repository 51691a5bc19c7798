"""What people send: the bench request, the LLM judging request and the score file, with
the patterns that check them.

Every model is frozen, forbids unknown fields and is strict about types; the gateway's
validation and its documentation both come from these definitions.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.base import Request
from shared.contracts.leaderboards import PANEL, PRIMARY
from shared.errors import UnknownModel
from shared.model_names import DEFAULT_GGUF_MODEL, LLM_JUDGE_PREFIX, parse_model
from shared.suite import (
    MAX_PROMPTS,
    MAX_SCENARIOS,
    PROMPT_VERSION_PATTERN,
    SCENARIO_ID_PATTERN,
    SUITE_REF_PATTERN,
)
from shared.suite_files import DEFAULT_SUITE

EXPERIMENT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
JUDGE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
# The model of an LLM judge: its id is the prefix and this name (at most 64 characters).
JUDGE_MODEL_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,59}"
# The leaderboard's own views: a judge of that name would be shadowed by them.
RESERVED_JUDGE_IDS = frozenset({PRIMARY, PANEL})
# A prompt of a bench request: a version of its suite, or a prompt of the MLflow Prompt
# Registry by version (prompts:/name/3) or alias (prompts:/name@production).
REGISTRY_PROMPT_PATTERN = (
    r"^prompts:/[A-Za-z0-9][A-Za-z0-9_.-]{0,127}(/[0-9]{1,9}|@[A-Za-z0-9_-]{1,64})$"
)
PROMPT_REF_PATTERN = rf"{PROMPT_VERSION_PATTERN}|{REGISTRY_PROMPT_PATTERN}"
MAX_REPEATS = 10
# A declared model size above this is a typo, not a model.
MAX_DECLARED_B = 10_000.0
ExperimentName = Annotated[str, StringConstraints(pattern=EXPERIMENT_PATTERN)]
PromptRef = Annotated[str, StringConstraints(pattern=PROMPT_REF_PATTERN)]
ScenarioId = Annotated[str, StringConstraints(pattern=SCENARIO_ID_PATTERN)]


class BenchRequest(Request):
    """What a user asks for: models x prompt versions x scenarios of a suite, and how."""

    suite: str = Field(
        DEFAULT_SUITE,
        pattern=SUITE_REF_PATTERN,
        description="The suite: `name` (its newest version) or `name@<version>`.",
    )
    models: list[str] = Field(
        default_factory=lambda: [DEFAULT_GGUF_MODEL],
        min_length=1,
        max_length=16,
        description="Model names: `qwen2.5:1.5b` (Ollama), `gguf:smollm2-135m` (embedded), "
        "`openai:<name>` (an OpenAI-compatible server).",
    )
    prompts: list[PromptRef] | None = Field(
        None,
        min_length=1,
        max_length=MAX_PROMPTS,
        description="Prompt versions of the suite, or registry prompts (`prompts:/name/3`, "
        "`prompts:/name@alias`); default: every version of the suite.",
    )
    scenarios: list[ScenarioId] | None = Field(
        None,
        min_length=1,
        max_length=MAX_SCENARIOS,
        description="Scenario ids of the suite; default: all (or the first n_scenarios).",
    )
    n_scenarios: int | None = Field(
        None,
        ge=1,
        le=MAX_SCENARIOS,
        description="Use the suite's first N scenarios instead of naming them; default: all.",
    )
    n_tips: int | None = Field(
        None, ge=1, le=10, description="Tips each candidate must contain; default: the suite's."
    )
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="Sampling temperature.")
    seed: int = Field(
        42,
        ge=0,
        le=2**31 - 1 - MAX_REPEATS,
        description="Sampling seed: every cell's first sample; repeat r uses seed + r.",
    )
    repeats: int = Field(
        1,
        ge=1,
        le=MAX_REPEATS,
        description="Samples per cell (seeds seed, seed+1, ...), each its own run and judge"
        " item; the statistics average them within a scenario.",
    )
    experiment: ExperimentName = Field(
        "default", description="Experiment name; the MLflow experiment is tip-bench-<name>."
    )
    max_model_b: float = Field(
        4.0, gt=0, le=1000, description="Largest model allowed, in billions of parameters."
    )
    allow_unknown_size: bool = Field(
        False, description="Run models whose parameter count cannot be determined."
    )
    sizes: dict[str, float] = Field(
        default_factory=dict,
        description="Parameter counts, in billions, of models whose server reports none"
        ' (vLLM, LM Studio): {"openai:my-model": 3.8}. A declared size is checked against'
        " max_model_b like a reported one and recorded on the runs.",
    )
    judge: str | None = Field(
        None,
        pattern=rf"^{LLM_JUDGE_PREFIX}{JUDGE_MODEL_PATTERN}$",
        description="`llm:<model>`: an LLM judge scores every candidate when the job ends:"
        " an Ollama model (`llm:qwen2.5:7b`), an OpenAI-compatible server's"
        " (`llm:openai:<name>`) or the embedded one (`llm:gguf:smollm2-135m`).",
    )

    @field_validator("judge")
    @classmethod
    def _judge_known(cls, judge: str | None) -> str | None:
        if judge is not None:
            try:
                parse_model(judge.removeprefix(LLM_JUDGE_PREFIX))
            except UnknownModel as exc:
                raise ValueError(f"judge: {exc}") from None
        return judge

    @field_validator("models")
    @classmethod
    def _models_known(cls, models: list[str]) -> list[str]:
        if len(set(models)) != len(models):
            raise ValueError("models must not repeat")
        for name in models:
            try:
                parse_model(name)
            except UnknownModel as exc:
                raise ValueError(str(exc)) from None
        return models

    @field_validator("prompts", "scenarios")
    @classmethod
    def _unique(cls, names: list[str] | None) -> list[str] | None:
        if names is not None and len(set(names)) != len(names):
            raise ValueError("must not repeat")
        return names

    @field_validator("sizes")
    @classmethod
    def _sizes_of_requested_models(
        cls, sizes: dict[str, float], info: ValidationInfo
    ) -> dict[str, float]:
        for name, billions in sizes.items():
            if not 0 < billions <= MAX_DECLARED_B:
                raise ValueError(f"{name}: a size is 0 < B <= {MAX_DECLARED_B:g} billions")
        strangers = sorted(set(sizes) - set(info.data.get("models") or sizes))
        if strangers:
            raise ValueError(f"{', '.join(strangers)} not among the models")
        return sizes

    @model_validator(mode="after")
    def _one_way_to_pick_scenarios(self) -> BenchRequest:
        if self.scenarios is not None and self.n_scenarios is not None:
            raise ValueError("give scenarios or n_scenarios, not both")
        return self


class LlmJudgeRequest(Request):
    """Which model judges."""

    model: str = Field(
        pattern=rf"^{JUDGE_MODEL_PATTERN}$",
        description="The judge model: an Ollama name (qwen2.5:7b), openai:<name> or"
        " gguf:<name> (the catalog's smollm2-135m or a file of TIPBENCH_GGUF_DIR; not bound"
        " by max_model_b).",
    )
    pairwise: bool = Field(
        False,
        description="Judge in the pairwise protocol: the model says which of two answers to"
        " a scenario is better, for the pairs of its own pair packet.",
    )

    @field_validator("model")
    @classmethod
    def _known(cls, model: str) -> str:
        try:
            parse_model(model)
        except UnknownModel as exc:
            raise ValueError(str(exc)) from None
        return model


def is_registry_prompt(name: str) -> bool:
    """True for a prompt of the MLflow Prompt Registry (`prompts:/...`), not a suite version."""
    return name.startswith("prompts:/")


class ItemScore(Request):
    """A judge's score of one packet item: one integer per rubric item and flag.

    The scores are named by the packet's rubric (tip-v1: relevance, actionability, tone
    1-5; format_ok, overlong 0/1); they are checked against it when the file arrives.
    """

    model_config = ConfigDict(frozen=True, extra="allow", strict=True)
    __pydantic_extra__: dict[str, int] = Field(init=False)
    item_id: str = Field(min_length=1, max_length=64, description="Opaque item id.")
    rationale: str = Field("", max_length=2000, description="Why, in a sentence or two.")

    def values(self) -> dict[str, int]:
        """The scores, by rubric item and flag id."""
        return dict(self.__pydantic_extra__ or {})


class JudgeFile(Request):
    """What every judge's answer carries: the packet it answers and who answered."""

    packet_id: str = Field(min_length=1, max_length=64, description="The packet answered.")
    judge_id: str = Field(
        pattern=JUDGE_ID_PATTERN,
        description="Who judged (letters, digits, _ . : -); part of MLflow metric names.",
    )
    judge_kind: Literal["human", "agent", "llm"] = Field(
        "human", description="A person, a coding agent reading the packet, or an LLM judge."
    )

    @field_validator("judge_id")
    @classmethod
    def _not_reserved(cls, judge_id: str) -> str:
        return check_judge_id(judge_id)


class ScoreFile(JudgeFile):
    """A judge's scores for one packet."""

    scores: list[ItemScore] = Field(
        min_length=1, max_length=10000, description="One score per item."
    )


def check_judge_id(judge_id: str) -> str:
    """The judge id, unless it is a leaderboard view's name; ValueError says why."""
    if judge_id.lower() in RESERVED_JUDGE_IDS:
        reserved = " and ".join(sorted(RESERVED_JUDGE_IDS))
        raise ValueError(f"judge id {judge_id!r} is reserved: {reserved} name leaderboard views")
    return judge_id
