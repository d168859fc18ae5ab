"""Bounds on what a request may carry, so that no input reaches a 500.

Each one answers a probe that once did (issue #15): a 36 MB body, JSON nested thousands of
levels (``RecursionError`` inside the parser), ``NaN``/``Infinity`` (valid to Python's
``json``, refused by PostgreSQL's ``jsonb``) and a NUL character in a path or query
(refused by PostgreSQL in any text). The same rules serve the REST API (its JSON parser),
the admin (its JSON form field) and every other view (the middleware).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.core import validators
from django.forms.fields import InvalidJSONInput
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

# The deepest legitimate value is an override's {"name": ..., "value": ...}: two levels.
MAX_JSON_DEPTH = 32


def max_body_bytes() -> int:
    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


class InputRefused(ValueError):
    """A request input outside the bounds above; the message says which and why."""


def json_depth_check(text: str) -> None:
    """Refuse nesting deeper than ``MAX_JSON_DEPTH`` before the recursive parser sees it."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise InputRefused(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        elif char in "]}":
            depth -= 1


def _no_constant(name: str) -> Any:
    raise InputRefused(f"{name} is not a JSON number (use a finite number)")


def json_parse(text: str | bytes) -> Any:
    """Strict JSON: bounded size and depth, no ``NaN``/``Infinity``; ``InputRefused`` else."""
    limit = max_body_bytes()
    if isinstance(text, bytes):
        if len(text) > limit:
            raise InputRefused(f"JSON longer than {limit} bytes")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InputRefused(f"JSON is not UTF-8: {error}") from error
    if len(text) > limit:
        raise InputRefused(f"JSON longer than {limit} characters")
    json_depth_check(text)
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise InputRefused(f"invalid JSON: {error}") from error


class BodyTooLarge(APIException):
    status_code = 413
    default_detail = "request body too large"
    default_code = "body_too_large"


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with the bounds above; a refusal is a 400 (413 for size) in JSON."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = max_body_bytes()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise BodyTooLarge(f"request body larger than {limit} bytes")
        try:
            return json_parse(raw)
        except InputRefused as refused:
            raise ParseError(f"JSON parse error - {refused}") from refused


class BoundedJSONFormField(forms.JSONField):
    """The admin's JSON field with the same bounds: a refusal is a form error, not a 500.

    A NUL inside a JSON string is left to the service that checks the value: it refuses and
    audits it, as it does for the API (the form's own NUL check would refuse unaudited)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators = [
            check
            for check in self.validators
            if not isinstance(check, validators.ProhibitNullCharactersValidator)
        ]

    def to_python(self, value: Any) -> Any:
        if self.disabled or value in self.empty_values or not isinstance(value, str):
            return super().to_python(value)
        try:
            return json_parse(value)
        except InputRefused as refused:
            raise forms.ValidationError(str(refused), code="invalid") from refused

    def bound_data(self, data: Any, initial: Any) -> Any:
        # Re-displaying the refused text parses it again: with the same bounds.
        if self.disabled or data is None or not isinstance(data, str):
            return super().bound_data(data, initial)
        try:
            return json_parse(data)
        except InputRefused:
            return InvalidJSONInput(data)


def _refusal(request: HttpRequest, status: int, detail: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": detail}, status=status)
    return HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")


class RequestBoundsMiddleware:
    """Refuse, before any view or other middleware reads it, a declared body over
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (413) and a NUL character in the path or query (400):
    JSON on the API, plain text elsewhere. A body sent without a length is bounded by the
    API's parser and by Django's own check of the same number for forms."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _refusal(request, 400, "Content-Length is not a number")
        if length > max_body_bytes():
            return _refusal(request, 413, f"request body larger than {max_body_bytes()} bytes")
        if "\x00" in request.path or any(
            "\x00" in key or "\x00" in value
            for key, values in request.GET.lists()
            for value in values
        ):
            return _refusal(request, 400, "NUL characters are not allowed in a path or query")
        return self.get_response(request)
