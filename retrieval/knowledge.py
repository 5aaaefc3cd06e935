"""Loading knowledge/: guides, halls, curated FAQ and eval sets, validated by retrieval.schema."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from retrieval.schema import EvalFile, FaqEntry, FaqFile, Guide, Hall, HallsFile

KNOWLEDGE_DIR = Path(__file__).resolve().parent.parent / "knowledge"
M = TypeVar("M", bound=BaseModel)


class KnowledgeError(Exception):
    """A knowledge file is wrong; the message names the file and the field."""


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    category: str


@dataclass
class KnowledgeBase:
    root: Path
    services: dict[str, Service]
    guides: dict[str, Guide]
    halls: dict[str, Hall]
    faq: list[FaqEntry] = field(default_factory=list)


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KnowledgeError(f"{path}: cannot be read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise KnowledgeError(f"{path}: not valid YAML: {exc}") from exc


def parse_file(path: Path, model: type[M]) -> M:
    try:
        return model.model_validate(read_yaml(path))
    except ValidationError as exc:
        problems = "; ".join(
            f"field {'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise KnowledgeError(f"{path}: {problems}") from exc


def load_services(root: Path = KNOWLEDGE_DIR) -> dict[str, Service]:
    with (root / "services.csv").open(encoding="utf-8") as handle:
        return {
            row["id"]: Service(row["id"], row["name"], row["category"])
            for row in csv.DictReader(handle)
        }


def _parse_entries(
    directory: Path,
    model: type[BaseModel],
    field: str,
    services: dict[str, Service],
    problems: list[str],
) -> list[Any]:
    """Every entry of the YAML files in `directory`; bad files and unknown service ids go to problems."""
    entries: list[Any] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            items = getattr(parse_file(path, model), field)
        except KnowledgeError as exc:
            problems.append(str(exc))
            continue
        for index, item in enumerate(items):
            if item.service_id is not None and item.service_id not in services:
                problems.append(
                    f"{path}: field {field}.{index}.service_id: unknown service {item.service_id!r}"
                )
        entries.extend(items)
    return entries


def load_knowledge(root: Path = KNOWLEDGE_DIR) -> KnowledgeBase:
    """Load and cross-check everything; raise KnowledgeError listing every problem found."""
    problems: list[str] = []
    services = load_services(root)

    guides: dict[str, Guide] = {}
    for path in sorted((root / "guides").glob("*.yaml")):
        try:
            guide = parse_file(path, Guide)
        except KnowledgeError as exc:
            problems.append(str(exc))
            continue
        if guide.service_id != path.stem:
            problems.append(
                f"{path}: field service_id: {guide.service_id!r} differs from the file name"
            )
        elif guide.service_id not in services:
            problems.append(
                f"{path}: field service_id: {guide.service_id!r} is not in services.csv"
            )
        elif guide.name != services[guide.service_id].name:
            problems.append(
                f"{path}: field name: {guide.name!r} differs from services.csv ({services[guide.service_id].name!r})"
            )
        guides[guide.service_id] = guide
    for missing in sorted(set(services) - set(guides)):
        problems.append(
            f"{root / 'guides' / (missing + '.yaml')}: missing (every service in services.csv needs a guide)"
        )

    halls: dict[str, Hall] = {}
    halls_path = root / "halls.yaml"
    try:
        halls = {hall.id: hall for hall in parse_file(halls_path, HallsFile).halls}
    except KnowledgeError as exc:
        problems.append(str(exc))
    for hall in halls.values():
        for service_id in hall.services:
            if service_id not in services:
                problems.append(
                    f"{halls_path}: field halls.{hall.id}.services: unknown service {service_id!r}"
                )
    if halls:
        for guide in guides.values():
            for index, hall_id in enumerate(guide.location.halls):
                where = f"{root / 'guides' / (guide.service_id + '.yaml')}: field location.halls.{index}"
                if hall_id not in halls:
                    problems.append(f"{where}: unknown hall {hall_id!r}")
                elif guide.service_id not in halls[hall_id].services:
                    problems.append(f"{where}: hall {hall_id!r} does not list this service")

    faq: list[FaqEntry] = _parse_entries(root / "faq", FaqFile, "entries", services, problems)
    seen: set[str] = set()
    for entry in faq:
        if entry.id in seen:
            problems.append(f"{root / 'faq'}: duplicate FAQ id {entry.id!r}")
        seen.add(entry.id)

    _parse_entries(root / "eval", EvalFile, "questions", services, problems)

    if problems:
        raise KnowledgeError("\n".join(problems))
    return KnowledgeBase(root=root, services=services, guides=guides, halls=halls, faq=faq)
