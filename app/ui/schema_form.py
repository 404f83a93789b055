"""A Streamlit form generated from a JSON schema (the service's training settings): one widget per
property, with the schema's default and description as help. Only values the user changed are
returned, so the service's defaults stay the authority for everything else."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from app.ui.forms import names


def _nullable(spec: dict) -> tuple[dict, bool]:
    """``anyOf: [X, null]`` -> (X, True)."""
    options = spec.get("anyOf")
    if not options:
        return spec, False
    concrete = [o for o in options if o.get("type") != "null"]
    return {**spec, **concrete[0]}, len(concrete) < len(options)


def _label(name: str, spec: dict) -> str:
    return spec.get("title") or name.replace("_", " ").capitalize()


def _lower_bound(spec: dict) -> float | None:
    if "minimum" in spec:
        return spec["minimum"]
    if "exclusiveMinimum" in spec:
        return spec["exclusiveMinimum"] + (1 if spec.get("type") == "integer" else 0)
    return None


def widget(name: str, raw: dict, key: str) -> Any:
    """The widget for one property; its value in the schema's type (None for an empty optional)."""
    spec, nullable = _nullable(raw)
    label, helptext, default = _label(name, spec), spec.get("description"), raw.get("default")
    kind = spec.get("type")
    if "enum" in spec:
        return st.selectbox(label, spec["enum"], index=spec["enum"].index(default), help=helptext, key=key)
    if kind == "boolean":
        return st.checkbox(label, value=bool(default), help=helptext, key=key)
    if kind == "array" and "enum" in spec.get("items", {}):
        return st.multiselect(label, spec["items"]["enum"], default=default or [], help=helptext, key=key)
    if kind in ("integer", "number") and not nullable:
        cast = int if kind == "integer" else float
        low, high = _lower_bound(spec), spec.get("maximum")
        return st.number_input(
            label,
            value=cast(default),
            min_value=None if low is None else cast(low),
            max_value=None if high is None else cast(high),
            step=1 if cast is int else None,
            format=None if cast is int else "%g",
            help=helptext,
            key=key,
        )
    # free text: strings, optional numbers, lists and maps (typed as JSON or comma-separated)
    shown = (
        "" if default is None else (json.dumps(default) if isinstance(default, dict | list) else str(default))
    )
    text = st.text_input(label, value=shown, help=helptext, key=key)
    return _parse(text, spec, nullable)


def _parse(text: str, spec: dict, nullable: bool) -> Any:
    text = text.strip()
    kind = spec.get("type")
    if not text:
        return None if nullable else ([] if kind == "array" else {} if kind == "object" else "")
    if kind == "array":
        items = names(text.strip("[]").replace('"', ""))
        return [
            int(i) if spec.get("items", {}).get("type") == "integer" and i.lstrip("-").isdigit() else i
            for i in items
        ]
    if kind == "object":
        try:
            return json.loads(text)
        except ValueError:
            return text  # the service's validation explains what it expected
    if kind in ("integer", "number"):
        try:
            return int(text) if kind == "integer" else float(text)
        except ValueError:
            return text
    return text


def schema_form(schema: dict, first: list[str], key: str, skip: tuple[str, ...] = ()) -> dict:
    """Widgets for every property but ``skip`` (``first`` on top, the rest under "More settings");
    returns the values that differ from the defaults."""
    properties = {k: v for k, v in schema.get("properties", {}).items() if k not in skip}
    values: dict[str, Any] = {}
    columns = st.columns(3)
    for i, name in enumerate(n for n in first if n in properties):
        with columns[i % 3]:
            values[name] = widget(name, properties[name], f"{key}.{name}")
    with st.expander("More settings"):
        columns = st.columns(3)
        for i, name in enumerate(n for n in properties if n not in first):
            with columns[i % 3]:
                values[name] = widget(name, properties[name], f"{key}.{name}")
    return {
        name: value
        for name, value in values.items()
        if value != properties[name].get("default", [] if properties[name].get("type") == "array" else None)
        and not (value in ({}, []) and "default" not in properties[name])
    }
