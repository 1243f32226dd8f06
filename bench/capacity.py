"""A capacity model of jobgate on AWS: for a job rate, a tenant mix and a job duration, the
write and read rates every DynamoDB table and index partition takes against DynamoDB's
per-partition limits, the SQS, SNS, Lambda and API Gateway quotas it meets, and the monthly
list-price cost.

    python bench/capacity.py [--rate 10000] [--tenant-rate 3000] [--duration 1] [--markdown]

The tables and indexes are read from the Terraform (``infra/terraform/deploy/20_infra``), the
shard counts from the code (``jobgate.backends.aws.jobs``), so the model describes what is
deployed. What each step of a job writes is described here (:data:`STEPS`), from
``DynamoJobStore``: the attributes each write sets or removes. DynamoDB's rules then decide what
each index pays: an index whose key attributes an item gains takes a put, loses takes a delete,
changes takes both; an index whose key is untouched takes a write only when an attribute it
projects changed (any, for ``ALL``). Partition keys ending in ``#<n>`` are spread over their
shards evenly (the shard comes from the job id's random tail).

Prices are the us-east-1 list prices (on-demand; free tiers ignored) as of 2026; quotas are the
default ones. Both are constants below, with what they are.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
TERRAFORM = ROOT / "infra" / "terraform" / "deploy" / "20_infra" / "main.tf"

# DynamoDB: a partition serves up to 1,000 write units and 3,000 read units a second.
PARTITION_WRU, PARTITION_RRU = 1000, 3000
# Default quotas: Lambda concurrency per region; an SQS event source mapping's maximum
# concurrency; HTTP API requests a second per region; SNS publishes a second (us-east-1);
# messages in flight on a standard queue.
LAMBDA_CONCURRENCY, ESM_MAX_CONCURRENCY = 1000, 1000
HTTP_API_RPS, SNS_PUBLISH_TPS, SQS_IN_FLIGHT = 10_000, 30_000, 120_000
# List prices, USD (us-east-1, on-demand)
PRICE = {
    "dynamodb_per_million_wru": 0.625,
    "dynamodb_per_million_rru": 0.125,
    "sqs_per_million_requests": 0.40,
    "sns_per_million_publishes": 0.50,
    "lambda_per_million_requests": 0.20,
    "lambda_per_gb_second": 0.0000166667,
    "http_api_per_million_requests": 1.00,
}
MONTH_SECONDS = 730 * 3600
HISTORY_ENTRY_BYTES = 160  # one event in an item's history list
KEY_BYTES = 100  # what a keys-only index entry holds (keys, names, overhead)


@dataclass(frozen=True)
class Index:
    name: str
    hash_key: str
    range_key: str | None
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    include: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.hash_key, self.range_key) if self.range_key else (self.hash_key,)

    def projects(self, attribute: str) -> bool:
        return self.projection == "ALL" or attribute in self.keys or attribute in self.include


@dataclass(frozen=True)
class Table:
    name: str
    indexes: tuple[Index, ...]


@dataclass(frozen=True)
class Write:
    """One write of a job's item: the attributes it sets (``sets``; the key attributes among
    them with the partition they land in) and removes. ``per_job``: how many times a job makes
    it; ``partition``: key attribute → (the partition's name pattern, its shard count)."""

    step: str
    sets: frozenset[str]
    removes: frozenset[str] = frozenset()
    per_job: float = 1.0
    creates: bool = False
    transactional: bool = False  # in a TransactWriteItems: the table bills it twice
    partition: dict[str, tuple[str, int]] = field(default_factory=dict)


def _text(value: Any) -> str:
    return str(value).strip('"')


def tables_from_terraform(path: Path = TERRAFORM) -> dict[str, Table]:
    """The DynamoDB tables of the Terraform layer at ``path`` (modules named ``*_table``)."""
    import hcl2

    with path.open() as handle:
        parsed = hcl2.load(handle)
    tables = {}
    for block in parsed.get("module", []):
        for raw_name, body in block.items():
            name = _text(raw_name)
            if not name.endswith("_table"):
                continue
            indexes = tuple(
                Index(
                    name=_text(i["name"]),
                    hash_key=_text(i["hash_key"]),
                    range_key=_text(i["range_key"]) if i.get("range_key") else None,
                    projection=_text(i.get("projection_type", "ALL")),
                    include=tuple(_text(a) for a in i.get("non_key_attributes") or []),
                )
                for i in body.get("global_secondary_indexes", [])
            )
            tables[name] = Table(name, indexes)
    return tables


@dataclass(frozen=True)
class Load:
    rate: float  # jobs a second, every tenant
    tenant_rate: float  # jobs a second of the largest tenant
    duration: float  # seconds a job runs
    heartbeat: float = 30.0  # seconds between a long job's heartbeats (lease / 3)
    payload_bytes: int = 200
    batch: int = 10  # SQS records per Lambda invocation
    batch_submit: int = 1  # jobs per POST (25 with POST /jobs/batch)
    memory_gb: float = 0.5
    polls_per_job: float = 1.0  # GET /jobs/{id} a client makes
    # JOBGATE_WORKER_BATCH_WRITES: a worker's batch claims and settles in one TransactWriteItems
    # (JobStore.transition_many), which bills each item twice; False: one UpdateItem each
    batched_transitions: bool = False


def job_writes(load: Load) -> list[Write]:
    """What ``DynamoJobStore`` writes through a job's life (see its module docstring)."""
    from jobgate.backends.aws.jobs import LISTING_SHARDS, OWNER_SHARDS, STATUS_SHARDS

    owner = ("<owner>#n", OWNER_SHARDS)
    beats = math.floor(load.duration / load.heartbeat)
    core = {"status", "updated_at", "version", "history"}
    # (notifications read the table's stream: no write of their own)
    return [
        Write("submit", frozenset({"job_id", "owner", "owner_shard", "status_shard", "listing",
                                   *core}), creates=True,
              partition={"owner_shard": owner, "status_shard": ("queued#n", STATUS_SHARDS),
                         "listing": ("jobs#n", LISTING_SHARDS)}),
        Write("claim", frozenset({"status_shard", "lease_expires_at", "lease_owner", "attempt",
                                  *core}), transactional=load.batched_transitions,
              partition={"status_shard": ("processing#n", STATUS_SHARDS)}),
        Write("heartbeat", frozenset({"lease_expires_at", "updated_at", "version"}),
              per_job=beats, partition={"status_shard": ("processing#n", STATUS_SHARDS)}),
        Write("finish", frozenset({"result", *core}), transactional=load.batched_transitions,
              removes=frozenset({"status_shard", "lease_owner", "lease_expires_at"})),
    ]  # fmt: skip


def index_writes(index: Index, write: Write, held: set[str]) -> tuple[int, str | None]:
    """Index writes one ``write`` costs (given the attributes the item ``held`` before), and
    the partition pattern they land in (the new key's, or the old one's for a delete)."""
    had = all(k in held for k in index.keys)
    after = (held | write.sets) - write.removes
    has = all(k in after for k in index.keys)
    key_changed = any(k in write.sets or k in write.removes for k in index.keys)
    if not had and not has:
        return 0, None
    if not had:
        return 1, "new"
    if not has:
        return 1, "old"
    if key_changed and (index.hash_key in write.sets or index.range_key in write.sets):
        return 2, "both"
    projected = any(index.projects(a) for a in write.sets | write.removes)
    return (1, "new") if projected else (0, None)


def model(load: Load, tables: dict[str, Table]) -> dict[str, Any]:
    jobs = tables["jobs_table"]
    events = 3  # queued, started, completed
    item = 400 + load.payload_bytes + events * HISTORY_ENTRY_BYTES
    wru = math.ceil(item / 1024)
    per_index: dict[str, float] = {i.name: 0.0 for i in jobs.indexes}
    partitions: dict[tuple[str, str], float] = {}  # (index, partition pattern) → writes/s
    held: set[str] = set()
    last_partition: dict[str, tuple[str, int]] = {}
    table_wru = 0.0
    for write in job_writes(load):
        table_wru += write.per_job * wru * (2 if write.transactional else 1)
        for index in jobs.indexes:
            count, where = index_writes(index, write, held)
            if not count:
                continue
            size = item if index.projection == "ALL" else KEY_BYTES
            per_index[index.name] += write.per_job * count * math.ceil(size / 1024)
            landing = []
            if where in ("new", "both"):
                landing.append(write.partition.get(index.hash_key))
            if where in ("old", "both"):
                landing.append(last_partition.get(index.hash_key))
            for target in landing:
                if target is None:
                    continue
                pattern, shards = target
                rate = load.tenant_rate if pattern.startswith("<owner>") else load.rate
                key = (index.name, pattern)
                partitions[key] = partitions.get(key, 0.0) + write.per_job * rate / shards
        for attribute in write.sets:
            if attribute in write.partition:
                last_partition[attribute] = write.partition[attribute]
        held = (held | write.sets) - write.removes

    # reads: the worker's batched read of the received jobs, the dispatcher's read of the
    # jobs its notices link to, the client's polls (all consistent: 1 read unit per 4 KB).
    # The stream itself is read ~1,000 records a request (a few records a job): negligible.
    rru_per_job = math.ceil(item / 4096) * (2 + load.polls_per_job)
    wru_per_job = table_wru + sum(per_index.values())
    # requests: SQS send (batched with a batch submit), the poller's receive and the delete
    sqs_per_job = 1 / min(load.batch_submit, 10) + 2 / load.batch
    sns_per_job = events  # every event is published (billed per message, batched 10 a call)
    api_requests = 1 / load.batch_submit + load.polls_per_job
    invocations_per_job = 1 / load.batch + api_requests  # worker + API
    # a worker invocation runs its batch's records side by side (~ one job's duration, plus
    # 10 %); an API request takes ~50 ms
    gb_seconds = (load.duration * 1.1 / load.batch + 0.05 * api_requests) * load.memory_gb
    per_job_usd = (
        wru_per_job * PRICE["dynamodb_per_million_wru"]
        + rru_per_job * PRICE["dynamodb_per_million_rru"]
        + sqs_per_job * PRICE["sqs_per_million_requests"]
        + sns_per_job * PRICE["sns_per_million_publishes"]
        + invocations_per_job * PRICE["lambda_per_million_requests"]
        + gb_seconds * PRICE["lambda_per_gb_second"] * 1e6
        + api_requests * PRICE["http_api_per_million_requests"]
    ) / 1e6
    concurrency = load.rate * load.duration * 1.1 / load.batch  # worker invocations in flight
    worst = max(partitions.items(), key=lambda kv: kv[1])
    hottest = {
        "index": worst[0][0], "partition": worst[0][1], "writes_per_s": round(worst[1]),
        "limit": PARTITION_WRU, "ok": worst[1] <= PARTITION_WRU,
    }  # fmt: skip
    # default quotas: past one, ask AWS for more (they are raised on request)
    quotas = {
        "lambda_worker_concurrency": {
            "needed": math.ceil(concurrency), "limit": min(LAMBDA_CONCURRENCY, ESM_MAX_CONCURRENCY),
            "ok": concurrency <= min(LAMBDA_CONCURRENCY, ESM_MAX_CONCURRENCY),
        },
        "http_api_requests_per_s": {
            "needed": round(load.rate * api_requests), "limit": HTTP_API_RPS,
            "ok": load.rate * api_requests <= HTTP_API_RPS,
        },
        "sns_publishes_per_s": {
            "needed": round(load.rate * events), "limit": SNS_PUBLISH_TPS,
            "ok": load.rate * events <= SNS_PUBLISH_TPS,
        },
        "sqs_in_flight": {
            "needed": round(load.rate * load.duration * 1.1), "limit": SQS_IN_FLIGHT,
            "ok": load.rate * load.duration * 1.1 <= SQS_IN_FLIGHT,
        },
    }  # fmt: skip
    return {
        "load": load.__dict__,
        "item_bytes": item,
        "per_job": {
            "table_write_units": round(table_wru, 2),
            "index_write_units": {k: round(v, 2) for k, v in per_index.items()},
            "write_units": round(wru_per_job, 2),
            "read_units": round(rru_per_job, 2),
            "sqs_requests": round(sqs_per_job, 2),
            "sns_publishes": sns_per_job,
        },
        "partitions_writes_per_s": {
            f"{index} {pattern}": round(rate)
            for (index, pattern), rate in sorted(partitions.items())
        },
        "hottest_index_partition": hottest,
        "no_dynamodb_throttle": hottest["ok"],
        "default_quotas": quotas,
        "usd_per_million_jobs": round(per_job_usd * 1e6, 2),
        "usd_per_month": round(per_job_usd * load.rate * MONTH_SECONDS),
    }


def markdown(reports: list[dict[str, Any]]) -> str:
    lines = [
        "| jobs/s (largest tenant) | job | hottest index partition, writes/s "
        "| Lambda concurrency | write units / job | $ / million jobs | $ / month |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in reports:
        load, hot = r["load"], r["hottest_index_partition"]
        lines.append(
            f"| {load['rate']:,.0f} ({load['tenant_rate']:,.0f}) | {load['duration']:g} s "
            f"| {hot['writes_per_s']:,} ({hot['index']}) "
            f"| {r['default_quotas']['lambda_worker_concurrency']['needed']:,} "
            f"| {r['per_job']['write_units']:g} | {r['usd_per_million_jobs']:.2f} "
            f"| {r['usd_per_month']:,} |"
        )
    return "\n".join(lines)


#: the loads of the README's table (the Lambda worker: one conditional write per claim/settle)
README_LOADS = tuple(
    Load(rate=rate, tenant_rate=rate * 0.3, duration=1, batched_transitions=False)
    for rate in (100, 1000, 10_000)
)


def readme_table(tables: dict[str, Table]) -> str:
    """The README's capacity table."""
    return markdown([model(load, tables) for load in README_LOADS])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10_000, help="jobs a second (10000)")
    parser.add_argument("--tenant-rate", type=float, default=3000,
                        help="jobs a second of the largest tenant (3000)")  # fmt: skip
    parser.add_argument("--duration", type=float, default=1.0, help="seconds a job runs (1)")
    parser.add_argument("--batch-submit", type=int, default=1,
                        help="jobs per submit request (25 with POST /jobs/batch)")  # fmt: skip
    parser.add_argument("--batch-writes", action="store_true",
                        help="JOBGATE_WORKER_BATCH_WRITES (transactions)")  # fmt: skip
    parser.add_argument("--terraform", type=Path, default=TERRAFORM)
    parser.add_argument("--markdown", action="store_true", help="print the README's table")
    args = parser.parse_args()
    tables = tables_from_terraform(args.terraform)
    if args.markdown:
        print(readme_table(tables))
        return
    load = Load(rate=args.rate, tenant_rate=args.tenant_rate, duration=args.duration,
                batch_submit=args.batch_submit, batched_transitions=args.batch_writes)  # fmt: skip
    print(json.dumps(model(load, tables), indent=2))


if __name__ == "__main__":
    main()
