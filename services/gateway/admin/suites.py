"""Admin suite pages: every suite with an upload form, a suite's versions, one version whole."""

from __future__ import annotations

from flask import Response, redirect, render_template, request, url_for

from services.gateway.deps import deps
from services.gateway.errors import refusal_status
from services.gateway.prompts import registry_name
from services.gateway.submit import store_suite
from shared.errors import SuiteInvalid, SuiteReserved
from shared.suite import MAX_FILE_BYTES
from shared.suite_files import parse_suite

REGISTRY_URI_PREFIX = "prompts:/"


def _uploaded() -> tuple[bytes, bool, str]:
    """The file sent (or the text pasted): its bytes, whether it is JSON, the text to show."""
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        raw = upload.read(MAX_FILE_BYTES + 1)
        try:
            shown = raw.decode("utf-8") if len(raw) <= MAX_FILE_BYTES else ""
        except UnicodeDecodeError:
            shown = ""
        return raw, upload.filename.lower().endswith(".json"), shown
    text = request.form.get("text", "")
    return text.encode("utf-8"), text.lstrip().startswith("{"), text


def suites() -> Response | tuple[str, int] | str:
    """Every suite at its newest version, and the upload form: a refused file stores nothing
    and shows every problem with its line; an accepted one opens its page."""
    problems: list[str] = []
    text, status = "", 200
    if request.method == "POST":
        raw, is_json, text = _uploaded()
        try:
            suite = parse_suite(raw, is_json=is_json)
            record, _ = store_suite(suite, deps())
        except SuiteInvalid as exc:
            problems, status = exc.lines, refusal_status(exc)
        except SuiteReserved as exc:
            problems, status = [str(exc)], refusal_status(exc)
        else:
            page = url_for("admin.suite_version", name=record.suite, version=record.version)
            return redirect(page)  # type: ignore[return-value]
    page = render_template(
        "admin/suites.html", suites=deps().suites.newest(), problems=problems, text=text
    )
    return (page, status) if problems else page


def suite_versions(name: str) -> str:
    """A suite's versions, newest first."""
    return render_template(
        "admin/suite_versions.html", name=name, versions=deps().suites.versions(name)
    )


def registry_link(uri: str) -> str | None:
    """The MLflow UI page of a registry prompt version (`prompts:/<name>/<n>`)."""
    name, _, number = uri.removeprefix(REGISTRY_URI_PREFIX).rpartition("/")
    if not uri.startswith(REGISTRY_URI_PREFIX) or not name or not number.isdigit():
        return None
    return f"{deps().settings.mlflow_link_base()}/#/prompts/{name}?promptVersion={number}"


def suite_version(name: str, version: str) -> str:
    """One suite version: checks, scenarios, prompts (with their registry link), rubric."""
    suite = deps().suites.get(name, version)
    record = next(r for r in deps().suites.versions(name) if r.version == version)
    registry = {
        p.version: {
            "uri": record.prompt_uris.get(p.version),
            "link": registry_link(record.prompt_uris.get(p.version, "")),
            "name": registry_name(suite.suite, p.version),
        }
        for p in suite.prompts
    }
    return render_template(
        "admin/suite_version.html",
        suite=suite,
        record=record,
        registry=registry,
        composite=suite.rubric.as_dict()["composite"],
        facets=suite.facet_names(),
    )
