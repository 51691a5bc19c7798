"""Suites as immutable, content-addressed versions: durable in MLflow, cached in Redis.

Each pushed version is one run of the MLflow experiment `tipbench-suites` (tags name the
suite and its version, `suite.json` is its artifact), so a Redis flush loses nothing.
Built-in suites (tip-v1, tip-v2) are read from the package and never stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import lru_cache

import redis
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from shared import tracking
from shared.contracts import SuiteRecord
from shared.errors import SuiteNotFound, SuiteReserved
from shared.settings import Settings
from shared.suite import SUITE_NAME_PATTERN, SUITE_VERSION_PATTERN, Suite
from shared.suite_files import BUILTIN_SUITES, DEFAULT_SUITE, builtin_suite

SUITE_ARTIFACT = "suite.json"  # the suite run's one artifact: the suite as pushed

SUITES_EXPERIMENT = "tipbench-suites"
SUITE_NAME = re.compile(SUITE_NAME_PATTERN)
SUITE_VERSION = re.compile(SUITE_VERSION_PATTERN)
TAG_SUITE, TAG_SUITE_VERSION = "tipbench.suite_name", "tipbench.suite_version"
TAG_PROMPT_URIS = "tipbench.prompt_uris"


def checked(name: str, version: str | None) -> None:
    """SuiteNotFound for a name or version no suite can have (checked before any lookup)."""
    if not SUITE_NAME.fullmatch(name):
        raise SuiteNotFound(f"no suite {name!r}: names match {SUITE_NAME_PATTERN}")
    if version is not None and not SUITE_VERSION.fullmatch(version):
        raise SuiteNotFound(f"no version {version!r} of suite {name}: versions are 12 hex digits")


def split_ref(ref: str) -> tuple[str, str | None]:
    """`name` or `name@version` -> (name, version or None)."""
    name, _, version = ref.partition("@")
    return name, version or None


def record_of(suite: Suite, created_at: float, prompt_uris: dict[str, str]) -> SuiteRecord:
    """The listing record of a suite version."""
    return SuiteRecord(
        suite=suite.suite,
        version=suite.content_version(),
        created_at=created_at,
        builtin=suite.suite in BUILTIN_SUITES,
        description=suite.description,
        n_scenarios=len(suite.scenarios),
        prompts=[p.version for p in suite.prompts],
        rubric_id=suite.rubric.id,
        prompt_uris=prompt_uris,
    )


@lru_cache(maxsize=64)
def _parsed(text: str) -> Suite:
    # Versions are immutable: a process parses each one once.
    return Suite.model_validate_json(text)


class SuiteStore:
    """Pushed suite versions in MLflow, their content cached in Redis; built-ins from files."""

    def __init__(self, client: redis.Redis[bytes], mlflow: MlflowClient, settings: Settings):
        self._redis = client
        self._mlflow = mlflow
        self._settings = settings

    def _cache_key(self, name: str, version: str) -> str:
        return self._settings.key("suite", name, version)

    def _experiment_id(self) -> str:
        found = self._mlflow.get_experiment_by_name(SUITES_EXPERIMENT)
        if found is not None:
            return str(found.experiment_id)
        return tracking.create_experiment_once(self._mlflow, SUITES_EXPERIMENT)

    def _runs(self, name: str, version: str | None = None) -> list[Run]:
        found = self._mlflow.get_experiment_by_name(SUITES_EXPERIMENT)
        if found is None:
            return []
        where = f"tags.`{TAG_SUITE}` = {tracking.quote(name)}"
        if version is not None:
            where += f" and tags.`{TAG_SUITE_VERSION}` = {tracking.quote(version)}"
        runs = tracking.search_runs(self._mlflow, str(found.experiment_id), where)
        finished = [r for r in runs if r.info.status == tracking.RUN_FINISHED]
        return sorted(finished, key=lambda r: -r.info.start_time)

    def push(
        self, suite: Suite, register: Callable[[Suite], dict[str, str]]
    ) -> tuple[SuiteRecord, bool]:
        """Store a suite version unless it is stored; (its record, True if new).

        `register` puts a new version's prompts in the Prompt Registry and returns their URIs.
        """
        if suite.suite in BUILTIN_SUITES:
            raise SuiteReserved(
                f"suite name {suite.suite!r} is a built-in suite's; give yours another name"
            )
        version = suite.content_version()
        lock = self._redis.lock(self._settings.key("suite-push", suite.suite), timeout=60)
        with lock:
            existing = self._runs(suite.suite, version)
            if existing:
                return self._record(existing[0]), False
            prompt_uris = self.prompt_uris(suite, register)
            run = self._mlflow.create_run(
                self._experiment_id(),
                run_name=f"{suite.suite}@{version}",
                tags={
                    tracking.TAG_KIND: "suite",
                    TAG_SUITE: suite.suite,
                    TAG_SUITE_VERSION: version,
                    TAG_PROMPT_URIS: json.dumps(prompt_uris, sort_keys=True),
                },
            )
            self._mlflow.log_text(run.info.run_id, suite.model_dump_json(), SUITE_ARTIFACT)
            self._mlflow.set_terminated(run.info.run_id, tracking.RUN_FINISHED)
            self._redis.set(self._cache_key(suite.suite, version), suite.model_dump_json())
        return record_of(suite, run.info.start_time / 1000, prompt_uris), True

    def _record(self, run: Run) -> SuiteRecord:
        tags = run.data.tags
        suite = self.get(tags[TAG_SUITE], tags[TAG_SUITE_VERSION])
        uris = json.loads(tags.get(TAG_PROMPT_URIS, "{}"))
        return record_of(suite, run.info.start_time / 1000, uris)

    def get(self, name: str, version: str | None = None) -> Suite:
        """A suite version (the newest if `version` is None); SuiteNotFound if none."""
        checked(name, version)
        if name in BUILTIN_SUITES:
            suite = builtin_suite(name)
            if version not in (None, suite.content_version()):
                raise SuiteNotFound(
                    f"built-in suite {name} is at version {suite.content_version()}, not {version}"
                )
            return suite
        if version is not None:
            cached = self._redis.get(self._cache_key(name, version))
            if cached is not None:
                return _parsed(cached.decode("utf-8"))
        runs = self._runs(name, version)
        if not runs:
            wanted = f"{name}@{version}" if version else name
            raise SuiteNotFound(f"no suite {wanted!r}; push it first (tipbench suite push FILE)")
        run = runs[0]
        text = tracking.read_artifact(self._mlflow, run, SUITE_ARTIFACT)
        self._redis.set(self._cache_key(name, run.data.tags[TAG_SUITE_VERSION]), text)
        return _parsed(text)

    def _uris_key(self, suite: Suite) -> str:
        return self._settings.key("suite-prompts", suite.suite, suite.content_version())

    def _builtin_record(self, name: str) -> SuiteRecord:
        suite = builtin_suite(name)
        cached = self._redis.get(self._uris_key(suite))
        return record_of(suite, 0.0, json.loads(cached) if cached else {})

    def prompt_uris(
        self, suite: Suite, register: Callable[[Suite], dict[str, str]]
    ) -> dict[str, str]:
        """The registry URIs of a suite version's prompts, cached in Redis.

        A stored version's are its durable record's (`tipbench.prompt_uris`), the one truth
        a lost Redis copy is read back from; a built-in suite's, or a version being pushed,
        are registered on first use (`register` reuses any registry version with the same
        text, so a lost copy comes back the same)."""
        cached = self._redis.get(self._uris_key(suite))
        if cached is not None:
            return dict(json.loads(cached))
        uris = self._recorded_uris(suite)
        if uris is None:
            uris = register(suite)
        self._redis.set(self._uris_key(suite), json.dumps(uris, sort_keys=True))
        return uris

    def _recorded_uris(self, suite: Suite) -> dict[str, str] | None:
        """The prompt URIs a stored suite version's run records; None if it has no record."""
        if suite.suite in BUILTIN_SUITES:
            return None
        for run in self._runs(suite.suite, suite.content_version()):
            if TAG_PROMPT_URIS in run.data.tags:
                return dict(json.loads(run.data.tags[TAG_PROMPT_URIS]))
        return None

    def resolve(self, ref: str = DEFAULT_SUITE) -> Suite:
        """The suite a bench request names: `name` (its newest version) or `name@version`."""
        return self.get(*split_ref(ref))

    def versions(self, name: str) -> list[SuiteRecord]:
        """A suite's versions, newest first; SuiteNotFound if it has none."""
        checked(name, None)
        if name in BUILTIN_SUITES:
            return [self._builtin_record(name)]
        runs = self._runs(name)
        if not runs:
            raise SuiteNotFound(f"no suite {name!r}")
        return [self._record(run) for run in runs]

    def newest(self) -> list[SuiteRecord]:
        """Every suite's newest version: the built-ins, then the pushed ones by name."""
        records = [self._builtin_record(name) for name in BUILTIN_SUITES]
        found = self._mlflow.get_experiment_by_name(SUITES_EXPERIMENT)
        if found is None:
            return records
        newest: dict[str, Run] = {}
        for run in tracking.search_runs(self._mlflow, str(found.experiment_id), ""):
            name = run.data.tags.get(TAG_SUITE)
            if run.info.status != tracking.RUN_FINISHED or name is None:
                continue
            if name not in newest or run.info.start_time > newest[name].info.start_time:
                newest[name] = run
        return records + [self._record(newest[name]) for name in sorted(newest)]
