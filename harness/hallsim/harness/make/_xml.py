"""Parse response on an XML answer (apps.make.com "HTTP": Parse response replaces the Parse JSON and Parse
XML modules). The shape an XML document takes in the output bundle is UNCONFIRMED (no public statement):
the root element's name holds its value; an element with neither attributes nor child elements is its text;
otherwise a collection of its children (an element that repeats is an array), its attributes under
`_attributes` and its own text under `_value`. Parsed with the standard library's expat (2.4.1 and later
refuse entity-expansion bombs; external entities are never fetched)."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from typing import Any


class XMLParseError(ValueError):
    pass


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]  # {namespace}name -> name


def _element(node: ElementTree.Element) -> Any:
    children = list(node)
    text = (node.text or "").strip()
    if not children and not node.attrib:
        return text
    out: dict[str, Any] = {}
    if node.attrib:
        out["_attributes"] = {_local(k): v for k, v in node.attrib.items()}
    for child in children:
        name = _local(child.tag)
        value = _element(child)
        if name in out:
            known = out[name]
            out[name] = [*known, value] if isinstance(known, list) else [known, value]
        else:
            out[name] = value
    if text:
        out["_value"] = text
    return out


def parse_xml(text: str) -> dict[str, Any]:
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as err:
        raise XMLParseError(str(err)) from None
    return {_local(root.tag): _element(root)}
