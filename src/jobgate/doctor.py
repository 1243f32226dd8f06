"""``jobgate doctor``: a deployment's settings checked against each other and the app's job types.

Two sources of a deployment's numbers:

* ``--env dev|stage|prod``: the Terraform that ships with jobgate (each layer's variable
  defaults, overridden by ``environments/<env>/terraform.tfvars``), before anything is applied;
* no ``--env``: this process's settings (``JOBGATE_*`` and the aws variables), as a deployed
  function or service sees them.

Each finding says what is wrong and how to fix it; any error makes the command exit 1. Checked:

* every job type's timeout fits one invocation of the worker function (Lambda stops an
  invocation at its timeout; jobgate keeps ``JOBGATE_LAMBDA_SETTLE_MARGIN_SECONDS`` to settle);
* the queue's visibility timeout is at least 6 x the worker function's timeout (AWS's advice
  for event sources: a record is not redelivered while a retry of its batch may still run);
* the event source's maximum concurrency is at most the function's reserved concurrency
  (otherwise Lambda throttles, and each throttled receive inflates the receive count);
* the queue's max receives is above every job type's max attempts (the ledger fails a job
  before SQS dead-letters its message);
* each ``@schedule`` has its EventBridge rule, with the same expression, and no rule names a
  schedule the app does not have;
* on the aws backend, the required settings are present;
* notifications: on the aws backend, the SNS topic is set (else email/SMS subscriptions are
  refused and nothing is published) and ``JOBGATE_PUBLIC_URL`` names the API (the links in
  notices); the webhook guard is not opened to private ranges, nor https waived, outside a
  local backend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from jobgate.registry import JobGate

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    level: Level
    check: str
    message: str
    fix: str


@dataclass(frozen=True)
class Deployment:
    """The numbers of one deployment that must agree (None: not known from this source)."""

    source: str
    worker_timeout: float | None = None
    visibility_timeout: float | None = None
    max_receives: int | None = None
    reserved_concurrency: int | None = None
    max_concurrency: int | None = None
    schedules: dict[str, str] | None = None
    missing_settings: list[str] = field(default_factory=list)
    notify_findings: list[Finding] = field(default_factory=list)  # from the settings alone


def check(app: JobGate, deployment: Deployment, settle_margin: float) -> list[Finding]:
    """Every finding for ``app`` deployed as ``deployment``."""
    d = deployment
    findings = _settings_findings(d) + d.notify_findings
    if d.worker_timeout is not None:
        findings += _timeout_findings(app, d.worker_timeout, d.visibility_timeout, settle_margin)
    if d.max_concurrency is not None and d.reserved_concurrency is not None:
        findings += _concurrency_findings(d.max_concurrency, d.reserved_concurrency)
    if d.max_receives is not None:
        findings += _receive_findings(app, d.max_receives)
    if d.schedules is not None:
        findings += _schedule_findings(app, d.schedules)
    return findings


def _settings_findings(d: Deployment) -> list[Finding]:
    if not d.missing_settings:
        return []
    return [
        Finding(
            "error",
            "settings",
            "required settings are missing: " + ", ".join(d.missing_settings),
            "set them on the function or service (Terraform's layer outputs name each)",
        )
    ]


def _timeout_findings(
    app: JobGate, worker_timeout: float, visibility: float | None, margin: float
) -> list[Finding]:
    findings = [
        Finding(
            "error",
            "job timeout",
            f"job type {name!r} may run {spec.timeout:g} s, but the worker function stops after "
            f"{worker_timeout:g} s ({margin:g} s of which are kept for settling)",
            f"raise worker_timeout_seconds to at least {spec.timeout + margin:g} (Lambda allows "
            "900), or lower the job type's timeout, or run this type's worker as a long-running "
            "service",
        )
        for name, spec in sorted(app.job_types.items())
        if spec.timeout > worker_timeout - margin
    ]
    if visibility is not None and visibility < 6 * worker_timeout:
        findings.append(
            Finding(
                "error",
                "visibility timeout",
                f"the queue's visibility timeout ({visibility:g} s) is under 6 x the worker "
                f"function's timeout ({worker_timeout:g} s)",
                f"set the visibility timeout (and JOBGATE_VISIBILITY_TIMEOUT) to at least "
                f"{6 * worker_timeout:g} s",
            )
        )
    return findings


def _concurrency_findings(most: int, reserved: int) -> list[Finding]:
    if most <= reserved:
        return []
    return [
        Finding(
            "error",
            "concurrency",
            f"the event source may start {most} worker invocations, but the function's "
            f"reserved concurrency is {reserved}: Lambda throttles the rest, and every "
            "throttled receive counts toward the DLQ",
            f"set worker_reserved_concurrency to at least {most}, or worker_max_concurrency "
            f"to at most {reserved}",
        )
    ]


def _receive_findings(app: JobGate, max_receives: int) -> list[Finding]:
    return [
        Finding(
            "error",
            "max receives",
            f"the queue dead-letters a message after {max_receives} receives, not more than "
            f"job type {name!r}'s {spec.max_attempts} attempts: SQS would bury jobs the retry "
            "policy still wants to run",
            f"set max_receive_count (JOBGATE_MAX_RECEIVES) above {spec.max_attempts} (the "
            "default 10 leaves room for crashes)",
        )
        for name, spec in sorted(app.job_types.items())
        if max_receives <= spec.max_attempts
    ]


def _schedule_findings(app: JobGate, rules: dict[str, str]) -> list[Finding]:
    findings = []
    for name, spec in sorted(app.schedules.items()):
        if rules.get(name) != spec.expression:
            findings.append(
                Finding(
                    "error",
                    "schedules",
                    f"schedule {name!r} ({spec.expression}) has "
                    + ("no EventBridge rule" if name not in rules else f"rule {rules[name]!r}"),
                    f'add {name} = "{spec.expression}" to `schedules` in 20_infra\'s tfvars',
                )
            )
    for name in sorted(set(rules) - set(app.schedules)):
        findings.append(
            Finding(
                "warning",
                "schedules",
                f"rule {name!r} names no schedule of the app: its ticks will fail",
                f"remove {name} from `schedules` in 20_infra's tfvars",
            )
        )
    return findings


# -- reading the Terraform -----------------------------------------------------------------------

_VARIABLE = re.compile(r'variable\s+"(?P<name>[A-Za-z0-9_]+)"\s*\{')
_ASSIGNMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9_]+)\s*=\s*(?P<value>.*?)\s*$")


def _scalar(text: str) -> Any:
    text = text.split("#", 1)[0].strip()
    if text.startswith('"') and text.endswith('"'):
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        return None  # an expression or a type: not a value doctor needs


def read_tfvars(text: str) -> dict[str, Any]:
    """Top-level ``name = value`` of a tfvars file: numbers, strings, booleans, and one-level
    maps of those (``{ a = "x" }``, also over several lines). Other values are skipped."""
    values: dict[str, Any] = {}
    lines = iter(text.splitlines())
    for line in lines:
        found = _ASSIGNMENT.match(line.split("#", 1)[0])
        if not found:
            continue
        name, value = found["name"], found["value"]
        if value.startswith("{"):
            body = value[1:]
            while "}" not in body:
                body += "\n" + next(lines, "}")
            entries = {}
            for part in re.split(r"[\n,]", body.split("}", 1)[0]):
                entry = _ASSIGNMENT.match(part)
                if entry:
                    key = entry["name"].strip('"')
                    entries[key] = _scalar(entry["value"])
            values[name] = entries
        else:
            values[name] = _scalar(value)
    return values


def variable_defaults(text: str) -> dict[str, Any]:
    """``default = …`` of each ``variable "name" { … }`` block of a .tf file."""
    defaults: dict[str, Any] = {}
    for match in _VARIABLE.finditer(text):
        depth, start, end = 1, match.end(), match.end()
        while depth and end < len(text):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        block = text[start:end]
        for line in block.splitlines():
            found = _ASSIGNMENT.match(line)
            if found and found["name"] == "default":
                value = found["value"]
                defaults[match["name"]] = {} if value.startswith("{}") else _scalar(value)
                break
    return defaults


def _layer(root: Path, layer: str, env: str) -> dict[str, Any]:
    folder = root / "deploy" / layer
    values = variable_defaults((folder / "variables.tf").read_text())
    tfvars = folder / "environments" / env / "terraform.tfvars"
    if not tfvars.exists():
        raise FileNotFoundError(f"{tfvars} does not exist: is {env!r} an environment?")
    values.update(read_tfvars(tfvars.read_text()))
    return values


def from_terraform(root: Path, env: str) -> Deployment:
    """The deployment ``infra/terraform`` makes for ``env`` (defaults + the env's tfvars)."""
    infra, app_layer = _layer(root, "20_infra", env), _layer(root, "30_app", env)
    worker_timeout = float(infra["worker_timeout_seconds"])
    return Deployment(
        source=f"{root}/deploy/*/environments/{env}",
        worker_timeout=worker_timeout,
        visibility_timeout=6 * worker_timeout,  # what 20_infra sets (queue and JOBGATE_*)
        max_receives=int(infra["max_receive_count"]),
        reserved_concurrency=int(app_layer["worker_reserved_concurrency"]),
        max_concurrency=int(app_layer["worker_max_concurrency"]),
        schedules={k: str(v) for k, v in (infra.get("schedules") or {}).items()},
    )


def notify_findings(
    settings: Any, topic_arn: str | None, stream_arn: str | None = None
) -> list[Finding]:
    """What the notification settings of a deployment on ``settings.backend`` get wrong."""
    if settings.backend != "aws":
        return []
    findings = []
    if not stream_arn:
        findings.append(
            Finding(
                "error",
                "notifications",
                "JOBS_STREAM_ARN is not set: the notifier cannot read the jobs table's stream, "
                "so no notice is dispatched (webhook, email, SNS)",
                "set it to the jobs table's stream ARN (20_infra's jobgate_environment has it)",
            )
        )
    if not topic_arn:
        findings.append(
            Finding(
                "warning",
                "notifications",
                "NOTIFICATIONS_TOPIC_ARN is not set: email and SMS subscriptions are refused "
                "and no notice is published to SNS",
                "set it to the notifications topic (20_infra's jobgate_environment has it)",
            )
        )
    if not settings.public_url:
        findings.append(
            Finding(
                "warning",
                "notifications",
                "JOBGATE_PUBLIC_URL is not set: the links in notices name "
                f"http://{settings.host}:{settings.port}, which subscribers cannot reach",
                "set it to the API's public URL (30_app sets the HTTP API's endpoint)",
            )
        )
    from jobgate.domain.addresses import Allowed

    opened = Allowed.parse(settings.webhook_allowed_hosts)
    if opened.hosts or opened.networks:
        findings.append(
            Finding(
                "warning",
                "notifications",
                f"JOBGATE_WEBHOOK_ALLOWED_HOSTS={settings.webhook_allowed_hosts!r} lets webhooks "
                "reach addresses the SSRF guard refuses (private, loopback, metadata)",
                "leave it empty outside local development and tests",
            )
        )
    if not settings.webhook_require_https:
        findings.append(
            Finding(
                "warning",
                "notifications",
                "JOBGATE_WEBHOOK_REQUIRE_HTTPS=false: webhooks may be sent in clear text",
                "leave it true outside local development",
            )
        )
    return findings


def from_settings(settings: Any) -> Deployment:
    """The deployment this process's settings describe."""
    missing: list[str] = []
    topic_arn: str | None = None
    stream_arn: str | None = None
    if settings.backend == "aws":
        from jobgate.aws_settings import AwsSettings
        from jobgate.envsettings import SettingsInvalid

        try:
            aws = AwsSettings()
            topic_arn, stream_arn = aws.notifications_topic_arn, aws.jobs_stream_arn
        except SettingsInvalid as exc:
            missing = sorted(name for name, _ in exc.problems)
    return Deployment(
        source="this process's settings",
        worker_timeout=settings.worker_function_timeout_seconds,
        visibility_timeout=settings.visibility_timeout
        if settings.worker_function_timeout_seconds is not None
        else None,
        max_receives=settings.max_receives,
        missing_settings=missing,
        notify_findings=notify_findings(settings, topic_arn, stream_arn) if not missing else [],
    )
