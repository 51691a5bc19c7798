"""The tipbench command line and the local (no Docker) stack; `mlflow_scorer` for MLflow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tipbench.scoring import mlflow_scorer

__all__ = ["mlflow_scorer"]


def __getattr__(name: str) -> Any:
    """`mlflow_scorer` (tipbench.scoring), imported on first use: the command line must not
    import MLflow to start."""
    if name == "mlflow_scorer":
        from tipbench.scoring import mlflow_scorer

        return mlflow_scorer
    raise AttributeError(f"module 'tipbench' has no attribute {name!r}")
