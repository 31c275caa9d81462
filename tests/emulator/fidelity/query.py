"""awsQuery wire format for CloudFormation, driven by botocore's service model.

Parsing turns the flattened form parameters (``Regions.member.1=us-east-1``) into the
structured input of the operation; serialising writes the ``<XResponse><XResult>`` XML the
AWS SDKs parse, with member names and nesting taken from the model, so they cannot drift.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from functools import lru_cache
from typing import Any
from xml.sax.saxutils import escape

import botocore.loaders

XMLNS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"


@lru_cache(maxsize=1)
def model() -> dict[str, Any]:
    return botocore.loaders.Loader().load_service_model(
        "cloudformation", "service-2", api_version="2010-05-15"
    )


def shapes() -> dict[str, Any]:
    return model()["shapes"]


def operation(name: str) -> dict[str, Any]:
    return model()["operations"][name]


def error_status(code: str) -> int:
    """HTTP status of an error code per the model (ValidationError and unknown: 400)."""
    for name, shape in shapes().items():
        err = shape.get("error")
        if err and (err.get("code") == code or name == code):
            return int(err.get("httpStatusCode", 400))
    return 400


def error_code(code: str) -> str:
    """The wire code of an exception shape name (e.g. ChangeSetNotFoundException -> ChangeSetNotFound)."""
    shape = shapes().get(code)
    if shape and shape.get("error", {}).get("code"):
        return shape["error"]["code"]
    return code


# --------------------------------------------------------------------------- parsing


def parse_input(op_name: str, flat: dict[str, str]) -> dict[str, Any]:
    op = operation(op_name)
    if "input" not in op:
        return {}
    return _parse(op["input"]["shape"], "", flat) or {}


def _parse(shape_name: str, prefix: str, flat: dict[str, str]) -> Any:
    shape = shapes()[shape_name]
    t = shape["type"]
    if t == "structure":
        out: dict[str, Any] = {}
        for member, ms in shape["members"].items():
            key = f"{prefix}.{member}" if prefix else member
            if key not in flat and not any(k.startswith(key + ".") for k in flat):
                continue
            value = _parse(ms["shape"], key, flat)
            if value is not None:
                out[member] = value
        if out or not prefix:
            return out
        return {} if prefix in flat else None
    if t == "list":
        base = prefix + ".member."
        idx = sorted({int(k[len(base):].split(".")[0]) for k in flat if k.startswith(base)})
        if not idx:
            return [] if prefix in flat else None
        return [_parse(shape["member"]["shape"], f"{base}{i}", flat) for i in idx]
    if t == "map":
        base = prefix + ".entry."
        idx = sorted({int(k[len(base):].split(".")[0]) for k in flat if k.startswith(base)})
        return {
            flat.get(f"{base}{i}.key"): _parse(shape["value"]["shape"], f"{base}{i}.value", flat)
            for i in idx
        }
    raw = flat.get(prefix)
    if raw is None:
        return None
    if t in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            raise QueryError("ValidationError", f"Invalid value '{raw}' for {prefix}")
    if t in ("double", "float"):
        return float(raw)
    if t == "boolean":
        return raw.lower() == "true"
    return raw


class QueryError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# --------------------------------------------------------------------------- serialising


def iso(ts: float | _dt.datetime) -> str:
    if not isinstance(ts, _dt.datetime):
        ts = _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc)
    return ts.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{ts.microsecond // 1000:03d}Z"
    )


def _ser(shape_name: str, value: Any, out: list[str]) -> None:
    shape = shapes()[shape_name]
    t = shape["type"]
    if t == "structure":
        members = shape["members"]
        unknown = set(value) - set(members)
        if unknown:
            raise KeyError(f"{shape_name} has no members {sorted(unknown)}")
        for member, ms in members.items():
            if member not in value or value[member] is None:
                continue
            out.append(f"<{member}>")
            _ser(ms["shape"], value[member], out)
            out.append(f"</{member}>")
    elif t == "list":
        for item in value:
            out.append("<member>")
            _ser(shape["member"]["shape"], item, out)
            out.append("</member>")
    elif t == "map":
        for k, v in value.items():
            out.append("<entry><key>")
            out.append(escape(str(k)))
            out.append("</key><value>")
            _ser(shape["value"]["shape"], v, out)
            out.append("</value></entry>")
    elif t == "timestamp":
        out.append(iso(value))
    elif t == "boolean":
        out.append("true" if value else "false")
    else:
        out.append(escape(str(value)))


def response_xml(op_name: str, result: dict[str, Any] | None, request_id: str | None = None) -> str:
    op = operation(op_name)
    parts: list[str] = [f'<{op_name}Response xmlns="{XMLNS}">', f"<{op_name}Result>"]
    if result and "output" in op:
        _ser(op["output"]["shape"], result, parts)
    parts.append(f"</{op_name}Result>")
    parts.append(
        f"<ResponseMetadata><RequestId>{request_id or uuid.uuid4()}</RequestId></ResponseMetadata>"
    )
    parts.append(f"</{op_name}Response>")
    return "".join(parts)


def error_xml(code: str, message: str, request_id: str | None = None) -> str:
    return (
        f'<ErrorResponse xmlns="{XMLNS}"><Error><Type>Sender</Type>'
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
        f"<RequestId>{request_id or uuid.uuid4()}</RequestId></ErrorResponse>"
    )
