"""GeoJSON files of boundaries: export the current ones, import a FeatureCollection.

The admin's "导入边界" / "导出边界" call these. A file's features are matched to
grids or units by ``properties.code``; every feature is checked (the code known
and not repeated, the geometry valid by ``departments.geo.validate_boundary``,
no overlap with a sibling — the grids of one community, the units under one
parent — beyond ``settings.BOUNDARY_OVERLAP_TOLERANCE`` of the smaller area),
and one problem anywhere writes nothing. Geometry itself lives in
``departments.geo``."""

import json
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from simple_history.utils import bulk_update_with_history

from cases.reference import reference_changed

from . import geo
from .models import Department, Grid

ERR_FILE_JSON = _("文件不是有效的 JSON（GeoJSON）：%(reason)s")
ERR_FILE_COLLECTION = _("文件应为 GeoJSON FeatureCollection，且含有 features 列表。")
ERR_FILE_EMPTY = _("文件中没有任何要素（feature）。")
ERR_FILE_TOO_BIG = _("文件过大（上限 %(mb)d MB）。")
ERR_FEATURE = _("不是 GeoJSON Feature 对象。")
ERR_NO_CODE = _("缺少编码：请在 properties.code 中填写网格或单位编码。")
ERR_UNKNOWN_CODE = _("编码“%(code)s”对应的%(what)s不存在。")
ERR_DUPLICATE_CODE = _("编码“%(code)s”在文件中重复出现（另见第 %(row)d 行）。")
ERR_NO_GEOMETRY = _("缺少边界（geometry）。")
ERR_OVERLAP = _("与“%(name)s”（%(code)s）重叠 %(ratio).1f%%，超过允许的 %(tolerance).1f%%。")

#: What one import may take; a city's grids fit in a few MB.
MAX_FILE_BYTES = 50 * 1024 * 1024

#: Which model a page imports into, and what its rows are called in messages.
TARGETS = {
    "grid": (Grid, _("网格")),
    "unit": (Department, _("区县、街道乡镇或社区村")),
}


@dataclass
class RowError:
    """One problem in a file: the feature's 1-based row (0: the file as a whole),
    its code if it has one, and the reason."""

    row: int
    code: str
    message: str


@dataclass
class ImportResult:
    errors: list[RowError]
    written: int = 0


def boundaries_export(target: str) -> dict:
    """The boundaries on file as a FeatureCollection: every grid (``target="grid"``)
    or every district, street and community (``"unit"``) that has one, active
    or not, in tree order, each with ``code``, ``name``, ``kind`` and the
    parent's code. The file imports back as it is."""
    model, _label = TARGETS[target]
    if model is Grid:
        rows = Grid.objects.filter(boundary__isnull=False).select_related("community").order_by("code")
        features = [_feature(g, "grid", g.community.code) for g in rows]
    else:
        rows = (
            Department.objects.filter(kind__in=Department.BOUNDARY_KINDS, boundary__isnull=False)
            .select_related("parent")
            .order_by("path")
        )
        features = [_feature(d, d.kind, d.parent.code if d.parent_id else None) for d in rows]
    return {"type": "FeatureCollection", "features": features}


def _feature(obj, kind: str, parent_code) -> dict:
    properties = {"code": obj.code, "name": obj.name, "kind": kind, "parent_code": parent_code}
    return {"type": "Feature", "properties": properties, "geometry": obj.boundary}


def boundaries_parse(raw: bytes) -> tuple[list | None, list[RowError]]:
    """The features of an uploaded file, or the file-level error."""
    if len(raw) > MAX_FILE_BYTES:
        return None, [RowError(0, "", str(ERR_FILE_TOO_BIG % {"mb": MAX_FILE_BYTES // (1024 * 1024)}))]
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as error:
        return None, [RowError(0, "", str(ERR_FILE_JSON % {"reason": error}))]
    if (
        not isinstance(data, dict)
        or data.get("type") != "FeatureCollection"
        or not isinstance(data.get("features"), list)
    ):
        return None, [RowError(0, "", str(ERR_FILE_COLLECTION))]
    if not data["features"]:
        return None, [RowError(0, "", str(ERR_FILE_EMPTY))]
    return data["features"], []


def boundaries_import(*, target: str, raw: bytes, actor) -> ImportResult:
    """Check a GeoJSON file and, if nothing is wrong, write its boundaries in one
    transaction (history kept, every process's grid index reloaded). Returns
    the problems by row; none means every feature was written."""
    features, errors = boundaries_parse(raw)
    if errors:
        return ImportResult(errors)
    model, label = TARGETS[target]
    if model is Grid:
        known = {g.code: g for g in Grid.objects.select_related("community")}
    else:
        known = {d.code: d for d in Department.objects.filter(kind__in=Department.BOUNDARY_KINDS, code__isnull=False)}

    matched: dict[str, tuple[int, object, dict]] = {}  # code → (row, object, geometry)
    for row, feature in enumerate(features, start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            errors.append(RowError(row, "", str(ERR_FEATURE)))
            continue
        properties = feature.get("properties") if isinstance(feature.get("properties"), dict) else {}
        code = str(properties.get("code") or "").strip()
        if not code:
            errors.append(RowError(row, "", str(ERR_NO_CODE)))
            continue
        problems = []
        if code in matched:
            problems.append(str(ERR_DUPLICATE_CODE % {"code": code, "row": matched[code][0]}))
        if code not in known:
            problems.append(str(ERR_UNKNOWN_CODE % {"code": code, "what": label}))
        boundary = feature.get("geometry")
        if boundary is None:
            problems.append(str(ERR_NO_GEOMETRY))
        else:
            problems.extend(geo.validate_boundary(boundary))
        errors.extend(RowError(row, code, message) for message in problems)
        if not problems:
            matched[code] = (row, known[code], boundary)
    if errors:
        return ImportResult(errors)
    errors = _overlap_errors(model, matched)
    if errors:
        return ImportResult(errors)

    objects = []
    for _row, obj, boundary in matched.values():
        obj.boundary = boundary
        objects.append(obj)
    with transaction.atomic():
        bulk_update_with_history(objects, model, ["boundary"], batch_size=500, default_user=actor)
        reference_changed()
    return ImportResult([], written=len(objects))


def _parent_of(obj) -> int | None:
    return obj.community_id if isinstance(obj, Grid) else obj.parent_id


def _overlap_errors(model, matched: dict) -> list[RowError]:
    """Overlaps between siblings in the state after the import: the file's
    boundaries, and the current ones of siblings the file leaves alone."""
    tolerance = settings.BOUNDARY_OVERLAP_TOLERANCE
    families: dict[int | None, dict] = {}
    for code, (row, obj, boundary) in matched.items():
        families.setdefault(_parent_of(obj), {})[code] = (row, obj, geo.geometry(boundary))
    parent_field = "community_id" if model is Grid else "parent_id"
    others = model.objects.filter(**{f"{parent_field}__in": [p for p in families if p is not None]}).filter(
        boundary__isnull=False
    )
    if model is Department:
        others = others.filter(kind__in=Department.BOUNDARY_KINDS)
    for obj in others.exclude(code__in=list(matched)).only("pk", "code", "name", "boundary", parent_field):
        try:
            shaped = geo.geometry(obj.boundary)
        except (TypeError, ValueError, AttributeError):
            continue
        families[_parent_of(obj)][obj.code] = (None, obj, shaped)
    errors = []
    for family in families.values():
        shapes = {code: entry[2] for code, entry in family.items()}
        for a, b, ratio in geo.sibling_overlaps(shapes, tolerance=tolerance):
            for here, there in ((a, b), (b, a)):
                row, _obj, _shape = family[here]
                if row is None:
                    continue  # a boundary already on file: the row of the file's side reports it
                other = family[there][1]
                message = ERR_OVERLAP % {
                    "name": other.name,
                    "code": other.code,
                    "ratio": ratio * 100,
                    "tolerance": tolerance * 100,
                }
                errors.append(RowError(row, here, str(message)))
    return sorted(errors, key=lambda e: e.row)
