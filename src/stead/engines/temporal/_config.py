"""The engine URL and the options it carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from ..._exceptions import UsageError

__all__ = ["DEFAULT_PORT", "TemporalOptions"]

DEFAULT_PORT = 7233

_NUMBERS = ("heartbeat", "step_timeout", "sticky_timeout", "task_timeout", "payload_limit")


@dataclass(frozen=True)
class TemporalOptions:
    """What ``temporal://host:port?namespace=…&task_queue=…&heartbeat=…&route.model=…`` says."""

    host: str = "localhost"
    port: int = DEFAULT_PORT
    namespace: str = "default"
    task_queue: str = "stead"
    """The queue of this program's workflows and, unless routed elsewhere, of its steps."""

    heartbeat: float = 4.0
    """Seconds without a heartbeat after which a running step is considered lost with its worker and retried.
    A step heartbeats in the background while it runs, so a killed worker costs this long, not a timeout."""

    step_timeout: float = 86_400.0
    """Seconds an attempt of a step without its own ``timeout`` may take (Temporal needs a bound)."""

    sticky_timeout: float = 2.0
    """Seconds a run's next workflow task waits for the worker that has it cached before any worker takes it."""

    task_timeout: float = 5.0
    """Seconds a worker may take over a workflow task (normally milliseconds) before another worker gets it: what a
    worker killed in the middle of one costs."""

    payload_limit: int = 2_000_000
    """Bytes a step's result or a run's arguments may take: Temporal refuses payloads over 2 MB."""

    routes: dict[str, str] = field(default_factory=dict)
    """Task queues for steps, by step name ("model:Triage", "tool:get_weather", "fetch") or kind ("model",
    "tool"): ``route.model=models`` sends every model call to workers of the queue ``models``."""

    tls: bool = False

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def queue_for(self, name: str, kind: str) -> str:
        return self.routes.get(name) or self.routes.get(kind) or self.task_queue

    @classmethod
    def from_url(cls, url: str) -> TemporalOptions:
        parts = urlsplit(url)
        if parts.scheme != "temporal":
            raise UsageError(f"not a Temporal engine URL: {url!r}; expected temporal://host:port?namespace=…")
        try:
            host = parts.hostname or "localhost"
            port = parts.port
        except ValueError as exc:
            raise UsageError(f"bad address in {url!r}: {exc}") from None
        if port is None:
            port = DEFAULT_PORT
        elif port == 0:
            # `or DEFAULT_PORT` once turned port 0 into 7233 silently: a different server than the one named.
            raise UsageError(
                f"port 0 in {url!r} names no server; give the Temporal frontend's port (default 7233)"
            )
        values: dict[str, object] = {"host": host, "port": port}
        routes: dict[str, str] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key.startswith("route."):
                routes[unquote(key[len("route.") :])] = value
            elif key in ("namespace", "task_queue"):
                if not value:
                    raise UsageError(f"{key} is empty in {url!r}")
                values[key] = value
            elif key in _NUMBERS:
                try:
                    number = float(value)
                except ValueError:
                    raise UsageError(f"{key}={value!r} in {url!r} is not a number") from None
                if number <= 0:
                    raise UsageError(f"{key} must be positive in {url!r}")
                values[key] = int(number) if key == "payload_limit" else number
            elif key == "tls":
                values["tls"] = value.lower() in ("1", "true", "yes")
            else:
                known = (
                    "namespace, task_queue, heartbeat, step_timeout, sticky_timeout, task_timeout, payload_limit, tls, "
                    "route.*"
                )
                raise UsageError(f"unknown option {key!r} in {url!r}; known: {known}")
        return cls(routes=routes, **values)  # type: ignore[arg-type]
