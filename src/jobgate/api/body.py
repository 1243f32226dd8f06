"""Reading request bodies safely: size limit, media type, JSON shape, depth and NUL bytes.

Starlette sets no body limit of its own, so :class:`BodyLimit` (pure ASGI) refuses a declared
``Content-Length`` over the limit before reading anything, and stops a streamed body as soon as
it passes the limit. :func:`parse_model` then validates with pydantic straight from bytes.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobgate.api.problems import clean_errors
from jobgate.errors import MalformedRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

M = TypeVar("M", bound=BaseModel)


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    await _too_large(scope, send, self.max_bytes)
                    return
                # The server reads exactly the declared length: nothing more to watch.
                await self.app(scope, receive, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise PayloadTooLarge(f"the body is larger than {self.max_bytes} bytes")
            return message

        await self.app(scope, limited, send)


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    from jobgate.api.problems import problem

    response = problem(
        413, "Payload too large", f"the body is larger than {limit} bytes", scope.get("path", "")
    )
    await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def check_media_type(content_type: str | None) -> None:
    base = (content_type or "").split(";", 1)[0].strip().lower()
    if base != "application/json" and not base.endswith("+json"):
        raise UnsupportedMediaType(
            f"send the body as application/json (got {base or 'no Content-Type'})"
        )


def parse_model(model: type[M], raw: bytes) -> M:
    """Validate ``raw`` JSON into ``model``: 400 when it is not JSON, 422 when it is wrong."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_input=False)
        invalid = [e for e in errors if e["type"] == "json_invalid"]
        if invalid:
            message = str(invalid[0].get("ctx", {}).get("error", invalid[0]["msg"]))
            if "recursion limit" in message:
                raise ValidationFailed("the JSON is nested too deeply") from None
            raise MalformedRequest(f"the body is not valid JSON: {message}") from None
        raise ValidationFailed(
            "the request body is not valid", errors=clean_errors(errors)
        ) from None


def check_json_value(value: Any, max_depth: int, where: str = "payload") -> None:
    """Refuse NUL characters (no queue or database takes them faithfully) and deep nesting."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise ValidationFailed(f"{where} is nested deeper than {max_depth} levels")
        if isinstance(item, str):
            if "\x00" in item:
                raise ValidationFailed(f"{where} contains a NUL character")
        elif isinstance(item, dict):
            for key, child in item.items():
                if "\x00" in key:
                    raise ValidationFailed(f"{where} contains a NUL character in a key")
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
