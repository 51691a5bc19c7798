"""MLflow helpers: experiment names, the run tags tipbench relies on, paginated search."""

from __future__ import annotations

import functools
import importlib.abc
import importlib.util
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import mlflow
from mlflow.entities import Experiment, Run, RunStatus, ViewType
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repo import ArtifactRepository
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracing.export.mlflow_v3 import MlflowV3SpanExporter
from mlflow.tracking import MlflowClient

from shared.settings import Settings

EXPERIMENT_PREFIX: Final = "tip-bench-"
TAG_KIND: Final = "run_kind"  # job | cell | summary
SUMMARY: Final = "summary"  # the run holding an experiment's leaderboard and report
TAG_JOB_ID: Final = "job_id"
TAG_CELL_KEY: Final = "cell_key"
TAG_JUDGE_PENDING: Final = "judge_pending"
TAG_RUBRIC_ID: Final = "rubric_id"
TAG_PARENT: Final = "mlflow.parentRunId"
TAG_TRACE_ID: Final = "trace_id"  # the cell's generation trace
# Stamped (epoch ms) on a cell run by every score the judge writes: MLflow can search runs
# by metric value but keeps no "last updated" time, and the reporter's durable snapshot
# finds the runs re-scored since it was made by this stamp.
METRIC_SCORED_AT: Final = "scored_at_ms"
FACET_PARAM: Final = "facet."  # a cell run's param `facet.<name>` holds its scenario's facet
TAG_SUITE: Final = "suite"  # `name@version` of an experiment's (and a job's) suite
RUN_FINISHED: Final = RunStatus.to_string(RunStatus.FINISHED)
RUN_FAILED: Final = RunStatus.to_string(RunStatus.FAILED)
PAGE_SIZE: Final = 1000
# A cell run's record: the parts of CELL_ARTIFACT, one upload (runs recorded before it was
# one file have each part as an artifact of its own, `<part>.json`: read_cell_part).
CELL_ARTIFACT: Final = "cell.json"
PROMPT_ARTIFACT: Final = "prompt.json"  # the rendered chat messages
CANDIDATES_ARTIFACT: Final = "candidates.json"  # the answer, its tips, its other lines
RAW_RESPONSE_ARTIFACT: Final = "raw_response.json"  # the provider's answer as it came
RUBRIC_ARTIFACT: Final = "rubric.json"  # the rubric it is judged by (also on its job's run)


def experiment_name(name: str) -> str:
    """The MLflow experiment of a tipbench experiment name."""
    return f"{EXPERIMENT_PREFIX}{name}"


# Modules MLflow's client tries to import on every request, to learn whether it runs on
# Databricks, in Spark or in a notebook (its request-header providers, the trace display).
# Where one is not installed each try fails anew, and a failed import walks sys.path
# again: about a quarter of the recorder's CPU (docs/performance.md).
PROBED_MODULES: Final = ("dbruntime", "IPython", "pyspark")


class AbsentModules(importlib.abc.MetaPathFinder):
    """First in line for every import: refuses the modules known not to be installed at
    once, where the path finders would search sys.path for them again each time."""

    def __init__(self, names: list[str]) -> None:
        self.names = frozenset(names)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        """ModuleNotFoundError for an absent module or a submodule of one; else no answer,
        and the next finder looks."""
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)


def remember_absent_modules() -> None:
    """Make an import of a PROBED_MODULES module that is not installed fail at once.

    An installed one is left alone, and sys.modules is not touched (code that asks
    whether, say, pyspark was imported still hears no)."""
    if any(isinstance(finder, AbsentModules) for finder in sys.meta_path):
        return
    absent = [
        name
        for name in PROBED_MODULES
        if name not in sys.modules and importlib.util.find_spec(name) is None
    ]
    if absent:
        sys.meta_path.insert(0, AbsentModules(absent))


def make_client(settings: Settings) -> MlflowClient:
    """An MLflow client for the configured tracking server."""
    remember_absent_modules()
    return MlflowClient(tracking_uri=settings.mlflow_uri)


def use_tracking_server(settings: Settings) -> MlflowClient:
    """A client, and the process-wide tracking URI set to the same server.

    MLflow exports traces and logs assessments through its process-global tracer, to the
    global tracking URI whatever client started them: a process that writes traces or
    assessments must point it at our server (once, at start-up). Its traces are written
    info first, spans after (`spans_after_their_trace`).
    """
    mlflow.set_tracking_uri(settings.mlflow_uri)
    spans_after_their_trace()
    return make_client(settings)


def spans_after_their_trace() -> None:
    """Make this process's MLflow tracer write a trace's info first, then its spans as the
    trace's artifact, instead of its spans first (MLflow's span logging) and its info after.

    With span logging the spans' request creates the trace, and the info's request then
    finds it there: the server rolls back and merges the info row by row, the slow path of
    its start_trace. A one-span trace cost the server 35-42 ms of CPU that way, 13-17 ms
    info first (docs/performance.md, the recorder's section). Spans kept as an artifact
    are MLflow's own layout for stores without span logging: `get_trace`, the UI and
    assessments read either; what is lost is searching traces by span contents and traces
    continued from another process, neither of which tipbench does. One thing to know:
    MLflow reads (and writes) a trace's artifact through the process's global tracking URI,
    so a client of another server than that one (`MlflowClient(uri).get_trace`) finds no
    spans; tipbench's processes have one server, and read assessments from the trace's
    info (`shared.feedback.tracing`), which any client reads from its own server.

    The exporter has no setting for it: this sets the flag its instances keep
    (`_store_supports_log_spans`, which it clears itself when a server cannot log spans);
    `tests/test_collect.py` lists a cell's requests, so a change of MLflow's shows there.
    """
    if getattr(MlflowV3SpanExporter, "_tipbench_spans_after", False):
        return
    init = MlflowV3SpanExporter.__init__

    @functools.wraps(init)
    def spans_as_artifact(self: MlflowV3SpanExporter, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._store_supports_log_spans = False

    MlflowV3SpanExporter.__init__ = spans_as_artifact  # type: ignore[method-assign]
    MlflowV3SpanExporter._tipbench_spans_after = True  # type: ignore[attr-defined]


def find_experiment(client: MlflowClient, name: str) -> Experiment | None:
    """The MLflow experiment of a tipbench experiment, or None."""
    return client.get_experiment_by_name(experiment_name(name))


def ensure_experiment(client: MlflowClient, name: str) -> str:
    """The id of the experiment's MLflow experiment, created if missing."""
    found = find_experiment(client, name)
    if found is not None:
        return str(found.experiment_id)
    return create_experiment_once(client, experiment_name(name))


class ExperimentIds:
    """Experiment name -> MLflow experiment id, asked of MLflow once per process.

    An id never changes while its experiment lives; see `using` for one that was deleted.
    """

    def __init__(self, client: MlflowClient) -> None:
        self._client = client
        self._known: dict[str, str] = {}

    def ensure(self, name: str) -> str:
        """The experiment's id (created if missing), from memory after the first call."""
        known = self._known.get(name)
        if known is None:
            known = self._known[name] = ensure_experiment(self._client, name)
        return known

    @contextmanager
    def using(self, name: str) -> Iterator[str]:
        """The experiment's id for a block of MLflow calls; if one fails, the name is
        forgotten (the experiment may have been deleted meanwhile) and asked again next time."""
        try:
            yield self.ensure(name)
        except MlflowException:
            self._known.pop(name, None)
            raise


def create_experiment_once(client: MlflowClient, full_name: str) -> str:
    """Create an MLflow experiment; if a concurrent caller created it first, its id."""
    try:
        return str(client.create_experiment(full_name))
    except MlflowException as exc:
        # Two callers raced to create it: the other one won, use theirs.
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        again = client.get_experiment_by_name(full_name)
        if again is None:
            raise
        return str(again.experiment_id)


def list_experiments(client: MlflowClient) -> list[Experiment]:
    """Every active tip-bench-* experiment, newest first."""
    found: list[Experiment] = []
    token: str | None = None
    while True:
        page = client.search_experiments(
            view_type=ViewType.ACTIVE_ONLY,
            filter_string=f"name LIKE '{EXPERIMENT_PREFIX}%'",
            max_results=PAGE_SIZE,
            order_by=["creation_time DESC"],
            page_token=token,
        )
        found.extend(page)
        token = page.token
        if not token:
            return found


def search_runs(client: MlflowClient, experiment_id: str, filter_string: str) -> Iterator[Run]:
    """Every active run of an experiment matching the filter, page by page."""
    token: str | None = None
    while True:
        page = client.search_runs(
            experiment_ids=[experiment_id],
            filter_string=filter_string,
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=PAGE_SIZE,
            page_token=token,
        )
        yield from page
        token = page.token
        if not token:
            return


def find_summary_run(client: MlflowClient, experiment_id: str) -> Run | None:
    """The experiment's summary run (its leaderboard's and report's artifacts), if any."""
    return next(search_runs(client, experiment_id, f"tags.{TAG_KIND} = '{SUMMARY}'"), None)


def artifact_store(client: MlflowClient, run: Run) -> ArtifactRepository:
    """The run's artifact store, found from the run in hand: MlflowClient's artifact calls
    ask the server for the run again (and for its logged models), six requests to read
    one file where the store reads it in two (a listing, the file)."""
    return get_artifact_repository(run.info.artifact_uri, tracking_uri=client.tracking_uri)


def read_artifact(client: MlflowClient, run: Run, path: str) -> str:
    """A run's artifact as text; MlflowException or OSError if it cannot be read."""
    return read_artifact_bytes(client, run, path).decode("utf-8")


def read_artifact_bytes(client: MlflowClient, run: Run, path: str) -> bytes:
    """A run's artifact as bytes; MlflowException or OSError if it cannot be read."""
    with tempfile.TemporaryDirectory(prefix="tipbench-artifact-") as folder:
        local = artifact_store(client, run).download_artifacts(path, folder)  # type: ignore[no-untyped-call]
        return Path(local).read_bytes()


def _stem(part: str) -> str:
    """A part's key in CELL_ARTIFACT: its file name without `.json`."""
    return part.removesuffix(".json")


def cell_record(parts: dict[str, object]) -> dict[str, object]:
    """The content of CELL_ARTIFACT: each part (named by its file, `candidates.json`) under
    its stem (`candidates`)."""
    return {_stem(name): content for name, content in parts.items()}


def _cell_bundle(client: MlflowClient, run: Run) -> dict[str, Any] | None:
    """The run's CELL_ARTIFACT, or None if it has none (recorded before the bundle)."""
    try:
        found: dict[str, Any] = json.loads(read_artifact(client, run, CELL_ARTIFACT))
    except (MlflowException, OSError):
        return None
    return found


def _part_of(client: MlflowClient, run: Run, bundle: dict[str, Any] | None, part: str) -> Any:
    """A part from the bundle, or from its own file when the run has no bundle."""
    if bundle is None:
        return json.loads(read_artifact(client, run, part))
    return bundle[_stem(part)]


def read_cell_part(client: MlflowClient, run: Run, part: str) -> Any:
    """One part of a cell run's record (`tracking.CANDIDATES_ARTIFACT`...), parsed; from
    CELL_ARTIFACT, or from the part's own file for a run recorded before the bundle.
    MlflowException, OSError or ValueError if it cannot be read, KeyError if it has none."""
    return _part_of(client, run, _cell_bundle(client, run), part)


def read_cell_parts(client: MlflowClient, run: Run, *parts: str) -> dict[str, Any]:
    """Several parts of a cell run's record by name, in one read where the run has the
    bundle; a part that cannot be read is left out."""
    bundle = _cell_bundle(client, run)
    found: dict[str, Any] = {}
    for part in parts:
        try:
            found[part] = _part_of(client, run, bundle, part)
        except (MlflowException, OSError, ValueError, KeyError):
            continue
    return found


def quote(value: str) -> str:
    """A value quoted for an MLflow filter string (values are validated ids)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
