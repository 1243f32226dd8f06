"""The capacity model (``bench/capacity.py``) on the tables the Terraform really defines: the
indexes it reads are the ones the code queries and ``provision`` makes, the sharded keys keep
every partition within DynamoDB's limit at 10,000 jobs/s with a 3,000 jobs/s tenant, and the
README's table is the model's."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.processes import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import capacity  # a bench script, not a package

from jobgate.backends.aws.provision import provision

TERRAFORM = ROOT / "infra" / "terraform" / "deploy" / "20_infra" / "main.tf"


class _Recorder:
    """Takes the calls ``provision`` makes, to read the table shapes it asks for."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Any]] = {}

    def __getattr__(self, name: str) -> Any:
        def call(**kwargs: Any) -> dict[str, Any]:
            if name == "create_table":
                self.tables[kwargs["TableName"]] = kwargs
            return {"QueueUrl": "q", "Attributes": {"QueueArn": "a"}, "TopicArn": "t",
                    "TableDescription": {"LatestStreamArn": "s"}}  # fmt: skip

        return call


def _provisioned() -> dict[str, list[tuple[str, str, str | None, str, tuple[str, ...]]]]:
    recorder = _Recorder()
    provision({"dynamodb": recorder, "sqs": recorder, "s3": recorder, "sns": recorder}, "p", "r")
    shapes = {}
    for name, table in recorder.tables.items():
        indexes = []
        for index in table.get("GlobalSecondaryIndexes", []):
            keys = {k["KeyType"]: k["AttributeName"] for k in index["KeySchema"]}
            projection = index["Projection"]
            indexes.append((index["IndexName"], keys["HASH"], keys.get("RANGE"),
                            projection["ProjectionType"],
                            tuple(projection.get("NonKeyAttributes", ()))))  # fmt: skip
        shapes[name.removeprefix("p-") + "_table"] = sorted(indexes)
    return shapes


def test_the_terraform_and_provision_define_the_same_indexes() -> None:
    tables = capacity.tables_from_terraform(TERRAFORM)
    from_terraform = {
        name: sorted((i.name, i.hash_key, i.range_key, i.projection, i.include)
                     for i in table.indexes)
        for name, table in tables.items()
    }  # fmt: skip
    assert from_terraform == _provisioned()
    # and every index the code queries is there
    code = (ROOT / "src" / "jobgate" / "backends" / "aws").glob("*.py")
    queried = {m for path in code for m in re.findall(r'"([a-z-]+-index)"', path.read_text())}
    defined = {i.name for table in tables.values() for i in table.indexes}
    assert queried and queried <= defined


def test_ten_thousand_jobs_a_second_throttle_no_partition() -> None:
    tables = capacity.tables_from_terraform(TERRAFORM)
    report = capacity.model(capacity.Load(rate=10_000, tenant_rate=3000, duration=1), tables)
    assert report["no_dynamodb_throttle"], report["partitions_writes_per_s"]
    assert all(rate <= 1000 for rate in report["partitions_writes_per_s"].values())
    # one tenant alone at 3,000 jobs/s spreads over its owner shards
    assert report["partitions_writes_per_s"]["owner-index <owner>#n"] <= 1000
    # at twice the rate the status index is what throttles first, and the model says so
    doubled = capacity.model(capacity.Load(rate=20_000, tenant_rate=3000, duration=1), tables)
    assert not doubled["no_dynamodb_throttle"]
    assert doubled["hottest_index_partition"]["index"] == "status-index"
    # a finished job costs the status index nothing more: it is sparse
    assert report["per_job"]["index_write_units"]["status-index"] == 4  # put, move, delete


def test_the_model_follows_the_definitions(tmp_path: Path) -> None:
    """An owner index projecting every attribute (as it once did) is written on every
    transition: the model reads that from the Terraform it is given."""
    text = TERRAFORM.read_text()
    changed = text.replace(
        'hash_key = "owner_shard", range_key = "job_id", projection_type = "KEYS_ONLY"',
        'hash_key = "owner_shard", range_key = "job_id", projection_type = "ALL"',
    )
    assert changed != text
    (tmp_path / "main.tf").write_text(changed)
    load = capacity.Load(rate=1000, tenant_rate=300, duration=1)
    keys_only = capacity.model(load, capacity.tables_from_terraform(TERRAFORM))
    everything = capacity.model(load, capacity.tables_from_terraform(tmp_path / "main.tf"))
    assert keys_only["per_job"]["index_write_units"]["owner-index"] == 1
    assert everything["per_job"]["index_write_units"]["owner-index"] > 4


def test_the_readme_table_is_the_models() -> None:
    table = capacity.readme_table(capacity.tables_from_terraform(TERRAFORM))
    readme = (ROOT / "README.md").read_text()
    assert table in readme, f"README's capacity table is stale; it is now:\n{table}"


@pytest.mark.parametrize("submit", [1, 25])
def test_a_batch_submit_cuts_the_api_requests(submit: int) -> None:
    load = capacity.Load(rate=10_000, tenant_rate=3000, duration=1, batch_submit=submit,
                         polls_per_job=0)  # fmt: skip
    report = capacity.model(load, capacity.tables_from_terraform(TERRAFORM))
    quota = report["default_quotas"]["http_api_requests_per_s"]
    assert quota["needed"] == round(10_000 / submit)  # the quota's default: 10,000
    assert quota["ok"]
