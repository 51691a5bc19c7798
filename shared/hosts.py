"""Generation hosts: several machines serving models, one collector (and queue) each.

`TIPBENCH_HOSTS` names them: `gpu1=http://10.0.0.5:11434,gpu2=openai:http://10.0.0.6:8000/v1`
(a host is an Ollama server unless its URL starts with `openai:`). Empty: the one host of
TIPBENCH_OLLAMA_HOST / TIPBENCH_OPENAI_BASE_URL behind the one `collect` queue, as always.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

HostKind = Literal["ollama", "openai"]
HOST_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
# Which hosts can generate with a model of each provider: the embedded models run inside
# the collector itself, so any host's collector can.
SERVES: dict[str, tuple[HostKind, ...]] = {
    "ollama": ("ollama",),
    "openai": ("openai",),
    "gguf": ("ollama", "openai"),
}


@dataclass(frozen=True)
class GenerationHost:
    """One machine that generates: its name (its queue's suffix), kind and URL."""

    name: str
    kind: HostKind
    url: str


def parse_hosts(text: str) -> tuple[GenerationHost, ...]:
    """The hosts of a TIPBENCH_HOSTS value; ValueError naming the entry that is wrong."""
    hosts: list[GenerationHost] = []
    for number, entry in enumerate((e.strip() for e in text.split(",") if e.strip()), 1):
        name, equals, url = (part.strip() for part in entry.partition("="))
        where = f"TIPBENCH_HOSTS entry #{number} ({entry!r})"
        if not equals or not HOST_NAME.match(name):
            raise ValueError(
                f"{where}: write name=url, the name lowercase letters, digits, - or _ (at most 32)"
            )
        kind: HostKind = "ollama"
        if url.startswith("openai:"):
            kind, url = "openai", url.removeprefix("openai:")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{where}: the URL must start with http:// or https://")
        if any(h.name == name for h in hosts):
            raise ValueError(f"{where}: host {name!r} is named twice")
        hosts.append(GenerationHost(name=name, kind=kind, url=url.rstrip("/")))
    return tuple(hosts)


def assign_hosts(
    cells_per_model: Mapping[str, int],
    providers: Mapping[str, str],
    hosts: Sequence[GenerationHost],
) -> dict[str, str]:
    """Each model on one host, balancing the cells: the model with the most cells first
    (equal counts keep the given order: within one job, the request's) goes to the host
    with the fewest cells so far (ties: the host listed first). Deterministic: the same
    models in the same order and hosts always give the same plan. ValueError naming a
    model no host can serve."""
    load = {host.name: 0 for host in hosts}
    plan: dict[str, str] = {}
    order = sorted(cells_per_model, key=lambda m: -cells_per_model[m])  # stable: ties keep order
    for model in order:
        able = [h.name for h in hosts if h.kind in SERVES[providers[model]]]
        if not able:
            kinds = " or ".join(SERVES[providers[model]])
            raise ValueError(f"no generation host serves {model!r}: it needs an {kinds} host")
        host = min(able, key=lambda name: load[name])
        plan[model] = host
        load[host] += cells_per_model[model]
    return plan
