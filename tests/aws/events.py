"""Lambda event documents written by AWS (``../shared/aws_events``), adapted at run time.

Each helper loads a document as AWS (the Powertools and SAM CLI projects) wrote it, and changes
only what a request must say: the path, the method, the body, the headers that carry the API
key, a receipt handle, a rule's name. SAM CLI's documents are mustache templates, rendered the
way ``sam local generate-event`` does (tags from ``event-mapping.json``, API Gateway bodies
base64-encoded). Never copied into the project: read from ``shared/`` at test time; missing
``shared/`` skips with the reason, and fails under ``CI=true``.
"""

from __future__ import annotations

import base64
import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.processes import ROOT

SHARED = Path(os.environ.get("JOBGATE_SHARED_DIR", ROOT.parent / "shared")) / "aws_events"


def document(name: str) -> dict[str, Any]:
    """A document from ``shared/aws_events`` (``powertools/…`` or ``sam-cli/…``), parsed."""
    path = SHARED / name
    if not path.exists():
        if os.environ.get("CI") == "true":
            raise AssertionError(f"{path} is missing: the Lambda tests need shared/aws_events")
        pytest.skip(f"{path} is missing (shared/aws_events sits beside the repository)")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def sam(template: str, group: str, kind: str, **values: str) -> dict[str, Any]:
    """A SAM CLI event rendered as ``sam local generate-event <group> <kind>`` renders it."""
    mapping = document("sam-cli/event-mapping.json")[group][kind]
    text = (SHARED / "sam-cli" / f"{template}.json").read_text()
    for tag, spec in mapping["tags"].items():
        value = values.get(tag.replace("-", "_"), spec.get("default", ""))
        if spec.get("encoding") == "base64":
            value = base64.b64encode(value.encode()).decode()
        if spec.get("type") == "dict":
            text = text.replace(f'"{{{{{{{tag.replace("-", "_")}}}}}}}"', value)
        text = text.replace(f"{{{{{{{tag.replace('-', '_')}}}}}}}", value)
    rendered: dict[str, Any] = json.loads(text)
    return rendered


def _headers(extra: dict[str, str] | None, body: Any) -> dict[str, str]:
    headers = dict(extra or {})
    if body is not None:
        headers["content-type"] = "application/json"
    return headers


def http_v2(
    method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """Powertools' HTTP API (payload 2.0) event for ``method path``."""
    event = copy.deepcopy(document("powertools/apiGatewayProxyV2Event.json"))
    path, _, query = path.partition("?")
    event["rawPath"] = path
    event["rawQueryString"] = query
    event["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&") if p) or None
    event["requestContext"]["http"].update(method=method, path=path)
    event["headers"] = {**event["headers"], **_headers(headers, body)}
    event["body"] = None if body is None else json.dumps(body)
    event["isBase64Encoded"] = False
    return event


def rest_v1(
    method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """Powertools' REST API (payload 1.0) event for ``method path``."""
    event = copy.deepcopy(document("powertools/apiGatewayProxyEvent.json"))
    event.update(path=path, resource="/{proxy+}", httpMethod=method)
    event["requestContext"].update(path=path, httpMethod=method, resourcePath="/{proxy+}")
    event["queryStringParameters"] = event["multiValueQueryStringParameters"] = None
    headers = _headers(headers, body)
    event["headers"] = {**event["headers"], **headers}
    event["multiValueHeaders"] = {
        **event["multiValueHeaders"],
        **{k: [v] for k, v in headers.items()},
    }
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    event["body"] = None if body is None else json.dumps(body)
    event["isBase64Encoded"] = False
    return event


def aws_proxy(
    method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """SAM CLI's REST API proxy event (no ``version`` field), body base64-encoded as SAM does."""
    event = sam(
        "AwsProxy",
        "apigateway",
        "aws-proxy",
        method=method,
        path=path.lstrip("/"),
        body="" if body is None else json.dumps(body),
    )
    event["path"] = path
    event["requestContext"]["path"] = f"/prod{path}"
    event["headers"] = {**event["headers"], **_headers(headers, body)}
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    event["queryStringParameters"] = event["multiValueQueryStringParameters"] = None
    if body is None:
        event["body"], event["isBase64Encoded"] = None, False
    return event


def sqs_record(message: dict[str, Any]) -> dict[str, Any]:
    """Powertools' SQS record, carrying a message received from the queue."""
    record: dict[str, Any] = copy.deepcopy(document("powertools/sqsEvent.json")["Records"][1])
    record.update(
        messageId=message["MessageId"], receiptHandle=message["ReceiptHandle"], body=message["Body"]
    )
    attributes = message.get("Attributes", {})
    for name in ("ApproximateReceiveCount", "SentTimestamp"):
        if name in attributes:
            record["attributes"][name] = attributes[name]
    record["messageAttributes"] = {
        k: {"stringValue": v["StringValue"], "dataType": v["DataType"]}
        for k, v in (message.get("MessageAttributes") or {}).items()
    }
    return record


def scheduled(rule: str, time: str = "2026-11-22T12:00:00Z") -> dict[str, Any]:
    """Powertools' EventBridge "Scheduled Event" from rule ``rule`` at ``time``."""
    event: dict[str, Any] = copy.deepcopy(
        document("powertools/validation_basic_eventbridge_event.json")
    )
    event["time"] = time
    event["resources"] = [f"arn:aws:events:us-east-1:123456789012:rule/{rule}"]
    return event
