"""The two wire formats of GeoReport v2: JSON, and XML with the spec's element names."""

import json
from xml.etree.ElementTree import Element, SubElement, tostring

from django.http import HttpResponse

CONTENT_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
#: Lists inside an element and the name of each item.
LIST_ITEMS = {
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: Element, data) -> None:
    if isinstance(data, dict):
        for name, value in data.items():
            child = SubElement(element, name)
            if isinstance(value, list):
                item_name = LIST_ITEMS.get(name, "item")
                for item in value:
                    _fill(SubElement(child, item_name), item)
            else:
                _fill(child, value)
    else:
        element.text = _text(data)


def to_xml(root: str, item: str | None, data) -> bytes:
    element = Element(root)
    if item is None:
        _fill(element, data)
    else:
        for entry in data:
            _fill(SubElement(element, item), entry)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + tostring(element, encoding="utf-8", xml_declaration=False)


def respond(fmt: str, data, *, root: str, item: str | None = None, status: int = 200) -> HttpResponse:
    if fmt == "json":
        body = json.dumps(data, ensure_ascii=False).encode()
    else:
        body = to_xml(root, item, data)
    return HttpResponse(body, status=status, content_type=CONTENT_TYPES[fmt])


def error(fmt: str, status: int, *descriptions: str) -> HttpResponse:
    """The spec's error list: ``[{"code": 400, "description": "…"}]``."""
    errors = [{"code": status, "description": str(d)} for d in descriptions]
    return respond(fmt, errors, root="errors", item="error", status=status)
