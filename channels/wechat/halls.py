"""The nearest service halls to a location a citizen sends (knowledge/halls.yaml)."""

from __future__ import annotations

import math
from pathlib import Path

from retrieval.knowledge import parse_file
from retrieval.schema import Hall, HallsFile

EARTH_RADIUS_KM = 6371.0


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def _km(value: float) -> str:
    return f"约{value * 1000:.0f}米" if value < 1 else f"约{value:.1f}公里"


class Halls:
    def __init__(self, halls: list[Hall]) -> None:
        self.halls = halls

    @classmethod
    def load(cls, path: Path) -> Halls:
        return cls(parse_file(path, HallsFile).halls)

    def nearest(self, lat: float, lon: float, limit: int = 3) -> list[tuple[Hall, float]]:
        ranked = sorted(
            ((h, distance_km(lat, lon, h.lat, h.lon)) for h in self.halls), key=lambda p: p[1]
        )
        return ranked[:limit]

    def describe_nearest(self, lat: float, lon: float, label: str = "") -> str:
        """The nearest general service centre in full, then the next nearest halls by name."""
        ranked = self.nearest(lat, lon, limit=len(self.halls))
        general = [p for p in ranked if p[0].id.endswith("_service_center")] or ranked
        hall, km = general[0]
        where = f"（{label}）" if label else ""
        lines = [
            f"离您{where}最近的政务服务中心：",
            f"{hall.name}（{_km(km)}）",
            f"地址：{hall.address}",
            f"办公时间：{hall.hours}",
            f"咨询电话：{hall.phone}",
        ]
        others = [p for p in ranked if p[0].id != hall.id][:2]
        if others:
            lines.append("附近还有：" + "；".join(f"{h.name}（{_km(d)}）" for h, d in others))
        lines.append("去之前可以先问我要带哪些材料。")
        return "\n".join(lines)
