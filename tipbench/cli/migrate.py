"""`tipbench migrate feedback`: old dict-valued judge assessments into per-criterion feedback."""

from __future__ import annotations

import argparse

from shared.settings import Settings
from tipbench.cli.client import EXIT_FAILED_CELLS, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, CliError
from tipbench.cli.command import Subcommands, add_group, bind_command


def cmd_migrate_feedback(settings: Settings, args: argparse.Namespace) -> int:
    """Migrate one experiment's, or every tip-bench experiment's, judge feedback in MLflow."""
    # here: the command line must not import MLflow to start
    from mlflow.exceptions import MlflowException

    from shared import tracking
    from tipbench.feedback_migration import migrate_experiment

    client = tracking.make_client(settings)
    try:
        if args.experiment:
            found = tracking.find_experiment(client, args.experiment)
            if found is None:
                raise CliError(
                    f"no experiment {args.experiment!r} in MLflow at {settings.mlflow_uri}"
                    f" (looked for {tracking.experiment_name(args.experiment)!r})",
                    EXIT_USAGE,
                )
            experiments = [found]
        else:
            experiments = tracking.list_experiments(client)
        left: list[str] = []
        for experiment in experiments:
            report = migrate_experiment(client, str(experiment.experiment_id))
            print(
                f"{experiment.name}: {report.traces} traces, {report.converted} old"
                f" assessments turned into {report.written} feedback,"
                f" {report.superseded} superseded by later scores"
            )
            left += report.left
    except MlflowException as exc:
        raise CliError(f"MLflow at {settings.mlflow_uri}: {exc}", EXIT_UNREACHABLE) from exc
    if left:
        raise CliError(f"{len(left)} old assessments left as they were:", EXIT_FAILED_CELLS, left)
    return EXIT_OK


def register(sub: Subcommands) -> None:
    """Add `migrate feedback`."""
    migrate_sub = add_group(
        sub, "migrate", help="bring records written by older tipbench up to date"
    )
    feedback = migrate_sub.add_parser(
        "feedback",
        help="turn judges' dict-valued <rubric-id> assessments into per-criterion feedback"
        " (safe to run again)",
    )
    feedback.add_argument("--experiment", help="only this experiment (default: every one)")
    bind_command(feedback, cmd_migrate_feedback)
