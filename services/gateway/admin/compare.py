"""Admin compare page: two experiments' rows, paired on their shared scenarios."""

from __future__ import annotations

from flask import render_template, request

from services.gateway.api.compare import comparison
from services.gateway.deps import deps
from services.gateway.errors import refusal_status
from shared import tracking
from shared.contracts import Comparison
from shared.errors import Conflict, InvalidRequest, NotFound


def compare() -> str | tuple[str, int]:
    """The form (two experiments, optional rows) and, once both are chosen, the table."""
    form = {k: request.args.get(k, "").strip() for k in ("a", "b", "row_a", "row_b")}
    names = [
        e.name.removeprefix(tracking.EXPERIMENT_PREFIX)
        for e in tracking.list_experiments(deps().mlflow)
    ]
    result: Comparison | None = None
    error, status = None, 200
    if form["a"] and form["b"]:
        try:
            result = comparison(form["a"], form["b"], form["row_a"] or None, form["row_b"] or None)
        except (InvalidRequest, NotFound, Conflict) as exc:
            # said on the form, beside what was chosen, with the status the API would give
            error, status = str(exc), refusal_status(exc)
    page = render_template(
        "admin/compare.html", form=form, experiments=sorted(names), result=result, error=error
    )
    return (page, status) if error else page
