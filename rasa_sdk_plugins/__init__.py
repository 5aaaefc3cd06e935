"""rasa-sdk's plugin hook: rasa-sdk imports a top-level `rasa_sdk_plugins` package when there is
one and calls `attach_sanic_app_extensions` for the Sanic app of each worker. Yishi adds
`GET /metrics` and its own logging there (actions/metrics.py)."""

from __future__ import annotations

import sys
from typing import Any

import pluggy

hookimpl = pluggy.HookimplMarker("rasa_sdk")


def init_hooks(manager: pluggy.PluginManager) -> None:
    manager.register(sys.modules[__name__])


@hookimpl
def attach_sanic_app_extensions(app: Any) -> None:
    from actions.metrics import attach

    attach(app)
