"""Specs of the shared library: settings, rubric, suite, contracts, model names."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.contracts import BenchRequest, cell_key
from shared.errors import UnknownModel
from shared.model_names import gguf_file, gguf_models, parse_model
from shared.settings import DEV_MODE_TOKEN, Settings
from shared.suite import render_prompt
from shared.suite_files import builtin_suite
from shared.worker import worker_deps

TIP_V1 = builtin_suite("tip-v1")


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "no admin token"),
        ("short", "shorter than 16"),
        ("changeme", "shorter than 16"),
        ("change-me-please-now", "placeholder"),
        ("<your-token-here-xxxxx>", "placeholder"),
        ("a" * 20 + ",short", "#2 is shorter than 16"),
    ],
)
def test_settings_refuse_weak_admin_tokens(token: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Settings(admin_token=token).checked_admin_tokens()  # type: ignore[arg-type]


def test_only_the_services_that_authenticate_require_a_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TIPBENCH_ADMIN_TOKEN", raising=False)
    monkeypatch.delenv("TIPBENCH_ADMIN_TOKEN_FILE", raising=False)
    worker = Settings()  # a worker needs none
    with pytest.raises(ValueError, match="TIPBENCH_ADMIN_TOKEN or TIPBENCH_ADMIN_TOKEN_FILE"):
        worker.checked_admin_tokens()  # the gateway and the CLI do
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(admin_token="change-me-please-now")  # type: ignore[arg-type]


def test_settings_accept_several_tokens_and_a_token_file(tmp_path: Path) -> None:
    secret = tmp_path / "tokens"
    secret.write_text("# rotated 2026-11\n" + "f" * 24 + "\n\n  " + "g" * 24 + "  \n")
    settings = Settings(admin_token="a" * 20 + ", " + "b" * 20, admin_token_file=str(secret))  # type: ignore[arg-type]
    assert settings.admin_tokens() == ["a" * 20, "b" * 20, "f" * 24, "g" * 24]
    with pytest.raises(ValidationError, match="cannot read TIPBENCH_ADMIN_TOKEN_FILE"):
        Settings(admin_token="", admin_token_file=str(tmp_path / "missing"))  # type: ignore[arg-type]
    secret.write_text("changeme\n")
    with pytest.raises(ValidationError, match="#1 is shorter"):
        Settings(admin_token="", admin_token_file=str(secret))  # type: ignore[arg-type]


def test_dev_mode_accepts_a_missing_or_weak_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIPBENCH_ADMIN_TOKEN", raising=False)
    assert Settings(dev_mode=True).admin_tokens() == [DEV_MODE_TOKEN]
    assert Settings(dev_mode=True, admin_token="changeme").admin_tokens() == ["changeme"]  # type: ignore[arg-type]


def test_settings_read_tipbench_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIPBENCH_ADMIN_TOKEN", "x" * 20)
    monkeypatch.setenv("TIPBENCH_GATEWAY_PORT", "9123")
    monkeypatch.setenv("TIPBENCH_NAMESPACE", "stack2")
    settings = Settings()  # type: ignore[call-arg]
    assert settings.gateway_port == 9123
    assert settings.key("job", "abc") == "stack2:job:abc"
    assert "x" * 20 not in repr(settings)


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ((5, 5, 5, 1, 0), 17),
        ((1, 1, 1, 0, 1), 2),
        ((3, 4, 2, 1, 1), 10),
        ((4, 4, 4, 0, 0), 12),
    ],
)
def test_composite_follows_the_tip_v1_formula(scores: tuple[int, ...], expected: int) -> None:
    values = dict(zip(TIP_V1.rubric.score_names, scores, strict=True))
    assert TIP_V1.rubric.composite(values) == expected


def test_tip_v1_rubric_is_data_with_its_formula_and_range() -> None:
    rubric = TIP_V1.rubric
    assert rubric.id == "tip-v1"
    assert rubric.item_ids == ("relevance", "actionability", "tone")
    assert rubric.flag_ids == ("format_ok", "overlong")
    assert rubric.formula() == "relevance + actionability + tone + 2*format_ok - overlong"
    assert rubric.composite_range == (2.0, 17.0)
    assert rubric.composite_levels == tuple(float(v) for v in range(2, 18))
    assert all(set(item.levels) == {1, 2, 3, 4, 5} for item in rubric.items)


def test_rubric_checks_scores_by_name_and_range() -> None:
    good = {"relevance": 5, "actionability": 1, "tone": 3, "format_ok": 1, "overlong": 0}
    assert TIP_V1.rubric.check_scores(good, "s") == []
    bad = good | {"tone": 6, "format_ok": True, "extra": 1}
    del bad["relevance"]
    problems = {p["field"]: p["message"] for p in TIP_V1.rubric.check_scores(bad, "s")}
    assert set(problems) == {"s.relevance", "s.tone", "s.format_ok", "s.extra"}
    assert problems["s.format_ok"] == "must be an integer 0-1, not True"


def test_tip_v1_suite_has_eight_scenarios_of_four_personas_and_two_slots() -> None:
    ids = [s.id for s in TIP_V1.scenarios]
    assert len(ids) == len(set(ids)) == 8
    first_four = TIP_V1.scenarios[:4]
    assert len({s.facets["persona"] for s in first_four}) == 4
    assert {s.facets["time_slot"] for s in first_four} == {"morning", "evening"}


def test_prompt_versions_render_distinct_prompts_with_worked_examples_in_v3() -> None:
    versions = [p.version for p in TIP_V1.prompts]
    assert versions == ["v1", "v2-mentor", "v3-few-shot"]
    rendered = {v: render_prompt(TIP_V1, v, "nurse@evening", 4) for v in versions}
    assert len({r.sha256 for r in rendered.values()}) == 3
    few_shot = rendered["v3-few-shot"].messages
    assert [m["role"] for m in few_shot].count("assistant") == 2
    assert "exactly 4 tips" in few_shot[-1]["content"]
    nurse = TIP_V1.scenario("nurse@evening").vars["persona_description"]
    assert nurse in few_shot[-1]["content"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"models": []}, "models"),
        ({"models": ["qwen2.5:1.5b", "qwen2.5:1.5b"]}, "models"),
        ({"models": ["gguf:../models/x"]}, "models"),
        ({"models": ["bad name!"]}, "models"),
        ({"prompts": ["v 9"]}, "prompts"),
        ({"prompts": ["prompts:/x"]}, "prompts"),
        ({"scenarios": []}, "scenarios"),
        ({"scenarios": ["a", "a"]}, "scenarios"),
        ({"suite": "Bad Suite"}, "suite"),
        ({"suite": "study@123"}, "suite"),
        ({"judge": "llm:gguf:/etc/passwd"}, "judge"),
        ({"judge": "qwen2.5:7b"}, "judge"),
        ({"n_tips": 0}, "n_tips"),
        ({"n_tips": "three"}, "n_tips"),
        ({"n_scenarios": 0}, "n_scenarios"),
        ({"temperature": 3}, "temperature"),
        ({"experiment": "../etc"}, "experiment"),
        ({"experiment": "Name' OR 1=1"}, "experiment"),
        ({"max_model_b": 0}, "max_model_b"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bench_request_refuses_bad_fields_by_name(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        BenchRequest.model_validate(body)
    assert [e["loc"][0] for e in caught.value.errors()] == [field]


def test_bench_request_defaults_to_the_embedded_model_and_the_whole_default_suite() -> None:
    request = BenchRequest()
    assert request.models == ["gguf:smollm2-135m"]
    assert request.max_model_b == 4.0
    assert (request.suite, request.prompts, request.scenarios, request.n_scenarios) == (
        "tip-v1",
        None,
        None,
        None,
    )


def test_bench_request_picks_scenarios_one_way_only() -> None:
    with pytest.raises(ValidationError, match="scenarios or n_scenarios, not both"):
        BenchRequest.model_validate({"scenarios": ["a"], "n_scenarios": 1})


def test_cell_key_is_stable_and_distinguishes_cells() -> None:
    key = cell_key("job1", "m", "v1", "student@morning")
    assert key == cell_key("job1", "m", "v1", "student@morning")
    others = {
        cell_key("job2", "m", "v1", "student@morning"),
        cell_key("job1", "n", "v1", "student@morning"),
        cell_key("job1", "m", "v2-mentor", "student@morning"),
        cell_key("job1", "m", "v1", "nurse@morning"),
    }
    assert key not in others and len(others) == 4


@pytest.mark.parametrize(
    ("name", "provider", "model"),
    [
        ("qwen2.5:1.5b", "ollama", "qwen2.5:1.5b"),
        ("ollama:llama3.2:3b", "ollama", "llama3.2:3b"),
        ("library/phi3:mini", "ollama", "library/phi3:mini"),
        ("gguf:smollm2-135m", "gguf", "smollm2-135m"),
        ("openai:Qwen/Qwen2.5-1.5B-Instruct", "openai", "Qwen/Qwen2.5-1.5B-Instruct"),
    ],
)
def test_model_names_say_their_provider(name: str, provider: str, model: str) -> None:
    ref = parse_model(name)
    assert (ref.provider, ref.name) == (provider, model)


@pytest.mark.parametrize(
    "name",
    [
        "gguf:../etc/passwd",
        "gguf:/etc/passwd",
        "gguf:models/x",
        "gguf:x.gguf",
        "gguf:.hidden",
        "ollama:",
        "openai:",
        "",
        "x" * 200,
        "white space",
    ],
)
def test_model_names_refused_say_why(name: str) -> None:
    with pytest.raises(UnknownModel, match="model"):
        parse_model(name)


def test_gguf_names_resolve_to_the_catalog_or_the_models_folder_only(tmp_path: Path) -> None:
    # Given a models folder with one file, and a file beside the folder
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "mine.gguf").write_bytes(b"GGUF")
    (tmp_path / "outside.gguf").write_bytes(b"GGUF")
    (folder / "twice.gguf.gguf").write_bytes(b"GGUF")  # no gguf: name can reach it
    # Then gguf:mine is that file, the catalog still resolves, and nothing else is opened
    assert gguf_file("mine", str(folder)) == folder / "mine.gguf"
    assert gguf_file("smollm2-135m", str(folder)).name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert gguf_models(str(folder)) == ["mine"]
    with pytest.raises(UnknownModel, match=r"no outside\.gguf in the models folder") as caught:
        gguf_file("outside", str(folder))
    assert "gguf:smollm2-135m, gguf:mine" in str(caught.value)
    with pytest.raises(UnknownModel, match=r"no models folder is set \(TIPBENCH_GGUF_DIR\)"):
        gguf_file("mine", "")


def test_embedded_model_file_is_found_in_its_package() -> None:
    path = gguf_file("smollm2-135m")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000


def test_mlflow_links_use_the_public_url_when_one_is_set() -> None:
    internal = Settings(admin_token="t" * 32, mlflow_uri="http://mlflow:5000/")
    assert internal.mlflow_link_base() == "http://mlflow:5000"
    public = internal.model_copy(update={"mlflow_public_url": "https://mlflow.example.org/"})
    assert public.mlflow_link_base() == "https://mlflow.example.org"


def test_a_workers_clients_are_built_once_when_its_threads_start_together(
    core_settings: Settings,
) -> None:
    # Given a worker's deps, whose build is slow (the collector's opens its model session)
    builds: list[object] = []

    def build(client: object, mlflow: object) -> object:
        time.sleep(0.2)
        builds.append(object())
        return builds[-1]

    deps = worker_deps(core_settings, build)
    # When 5 threads take their first messages at the same moment
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(deps())) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    # Then one was built, and every thread has it
    assert len(builds) == 1
    assert got == builds * 5
