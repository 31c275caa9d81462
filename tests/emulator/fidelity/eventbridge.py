"""EventBridge's content filtering, for the rules of template.yaml.

AWS EventBridge user guide, "Amazon EventBridge event patterns" (and "Creating event patterns"):
- a pattern is a JSON object; every field it names must match the event ("all keys must
  match"), fields it does not name are ignored;
- a field's value in the pattern is an array: the event matches if its value equals any of the
  array's values ("the value in the event matches any of the values in the array"); when the
  event's value is itself an array, it matches if the two arrays intersect;
- a nested object (`detail: {eventName: [...]}`) matches the event's object at that key, with
  the same rules;
- matching is exact and case-sensitive on strings, numbers, booleans and null.

Content-filter operators (objects inside the arrays: `prefix`, `suffix`, `anything-but`,
`numeric`, `exists`, `cidr`, `equals-ignore-case`, `wildcard`, `$or`) are NOT implemented. A
pattern using one is refused with PatternError naming it, so that a future rule cannot silently
match everything (or nothing) in the tests.
"""

from __future__ import annotations

from typing import Any


class PatternError(ValueError):
    """A pattern this test bed does not evaluate."""


def check(pattern: Any, where: str = "pattern") -> None:
    """Raises PatternError when `pattern` uses anything this module does not implement."""
    if not isinstance(pattern, dict):
        raise PatternError(f"{where}: an event pattern is a JSON object, got {pattern!r}")
    for key, value in pattern.items():
        at = f"{where}.{key}"
        if key == "$or":
            raise PatternError(f"{at}: the $or operator is not implemented by the test bed "
                               "(fidelity/eventbridge.py); implement it before a rule uses it")
        if isinstance(value, dict):
            check(value, at)
        elif isinstance(value, list):
            if not value:
                raise PatternError(f"{at}: an empty array matches no event; EventBridge refuses it")
            for v in value:
                if isinstance(v, dict):
                    ops = ", ".join(sorted(v)) or "{}"
                    raise PatternError(f"{at}: content-filter operator {ops} is not implemented by the "
                                       "test bed (fidelity/eventbridge.py); implement it before a rule uses it")
                if isinstance(v, list):
                    raise PatternError(f"{at}: nested arrays are not a valid pattern value: {v!r}")
        else:
            raise PatternError(f"{at}: a pattern's leaf is an array of values, got {value!r} "
                               f"(write [{value!r}])")


def matches(pattern: dict[str, Any], event: Any) -> bool:
    """Whether `event` matches `pattern` (checked first: see `check`)."""
    check(pattern)
    return _matches(pattern, event)


def _matches(pattern: dict[str, Any], event: Any) -> bool:
    if not isinstance(event, dict):
        return False
    for key, want in pattern.items():
        if key not in event:
            return False
        got = event[key]
        if isinstance(want, dict):
            if not _matches(want, got):
                return False
            continue
        values = got if isinstance(got, list) else [got]
        if not any(_equal(v, w) for v in values for w in want):
            return False
    return True


def _equal(a: Any, b: Any) -> bool:
    # JSON equality, without Python's True == 1.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (dict, list)):
        return False  # an object or array in the event is never equal to a pattern's leaf value
    return a == b
