"""Life events (一件事): chains of services a citizen usually needs one after another.

`knowledge/life_events.yaml` lists them; `next_steps(service_id)` gives, for every chain the
service is in, the step after it. Loaded once per process and checked against the service
catalogue, so a typo in a service id fails `make validate-kb`, not a citizen's chat.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from retrieval.config import get_retrieval_settings
from retrieval.knowledge import KnowledgeError


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service_id: str
    why: str = Field(min_length=4, max_length=80)


class LifeEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=2, max_length=20)
    steps: list[Step] = Field(min_length=2)


class LifeEventsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[LifeEvent]


@dataclass(frozen=True)
class NextStep:
    event: str  # the life event's name, e.g. 宝宝出生
    service_id: str
    title: str  # the next service's name
    why: str


def load_life_events(knowledge_dir: Path) -> tuple[list[LifeEvent], dict[str, str]]:
    """The chains and the service names; KnowledgeError names the file and field when wrong."""
    path = knowledge_dir / "life_events.yaml"
    with (knowledge_dir / "services.csv").open(encoding="utf-8") as f:
        names = {row["id"]: row["name"] for row in csv.DictReader(f)}
    try:
        parsed = LifeEventsFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        raise KnowledgeError(f"{path}: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise KnowledgeError(f"{path}: field {where}: {first['msg']}") from exc
    for i, event in enumerate(parsed.events):
        for j, step in enumerate(event.steps):
            if step.service_id not in names:
                raise KnowledgeError(
                    f"{path}: field events.{i}.steps.{j}.service_id: "
                    f"unknown service {step.service_id!r}"
                )
    return parsed.events, names


@lru_cache(maxsize=4)
def _chains(knowledge_dir: Path) -> tuple[tuple[LifeEvent, ...], dict[str, str]]:
    events, names = load_life_events(knowledge_dir)
    return tuple(events), names


def next_steps(service_id: str, knowledge_dir: Path | None = None) -> list[NextStep]:
    """The step after `service_id` in each life event that contains it (no duplicates)."""
    events, names = _chains(knowledge_dir or get_retrieval_settings().knowledge_dir)
    found: dict[str, NextStep] = {}
    for event in events:
        ids = [s.service_id for s in event.steps]
        if service_id in ids[:-1]:
            step = event.steps[ids.index(service_id) + 1]
            found.setdefault(
                step.service_id,
                NextStep(event.name, step.service_id, names[step.service_id], step.why),
            )
    return list(found.values())
