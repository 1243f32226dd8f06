"""`terraform apply` of the three layers into moto's server, jobgate run on what they created
(configured from the layers' outputs and the functions' environment), then `terraform destroy`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from tests.conftest import ADMIN_KEY
from tests.infra.terraform import LAYERS, TERRAFORM_DIR, Terraform
from tests.processes import ROOT, Process, free_port, wait_healthy
from tests.support import effects, wait_for

# The module fixture applies (~2 min) and destroys (~1 min) the stack inside the first and
# last tests: allow for that beyond the suite-wide per-test timeout.
pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.timeout(600)]

PROJECT = "jgtf"
REGION = "us-east-1"


def client(endpoint: str, service: str) -> Any:
    make: Any = boto3.client  # the service is a variable: no typed overload applies
    return make(service, region_name=REGION, endpoint_url=endpoint,
                        aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip


def package(out: Path) -> tuple[Path, Path]:
    """The real artifacts of `make package` (the layer is cached between runs)."""
    subprocess.run([sys.executable, str(ROOT / "infra" / "package.py"), "--out", str(out)],
                   check=True, capture_output=True, timeout=600)  # fmt: skip
    return out / "function.zip", out / "layer.zip"


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    """An emulator of its own: other tests reset the shared one, which would wipe the stack."""
    from jobgate.testing.emulator import start_emulator

    server, endpoint = start_emulator()
    yield endpoint
    server.stop()


@pytest.fixture(scope="module")
def stack(emulator: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    moto_endpoint = emulator
    work = tmp_path_factory.mktemp("terraform")
    function_zip, layer_zip = package(ROOT / "build" / "lambda")
    terraform = Terraform(work, {
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": "",  # the provider's endpoints block decides, not the environment
    })  # fmt: skip
    # What bootstrap makes in a real account: the state bucket (S3 locks it: use_lockfile).
    bucket = f"{PROJECT}-tfstate"
    client(moto_endpoint, "s3").create_bucket(Bucket=bucket)
    state_backend = {
        "bucket": bucket, "region": REGION, "use_lockfile": True,
        "endpoints": {"s3": moto_endpoint, "dynamodb": moto_endpoint},
        "use_path_style": True, "skip_credentials_validation": True,
        "skip_requesting_account_id": True, "skip_metadata_api_check": True,
        "access_key": "test", "secret_key": "test",
    }  # fmt: skip
    common = {"project": PROJECT, "environment": "test", "aws_region": REGION,
              "aws_endpoint": moto_endpoint, "state_backend": state_backend}  # fmt: skip
    variables: dict[str, dict[str, Any]] = {
        "10_core": {"create_kms_key": True, "secret_recovery_window_days": 0, "log_retention_days": 7},
        "20_infra": {"deletion_protection": False, "force_destroy_bucket": True,
                     "enable_redrive_allow_policy": False, "deny_insecure_transport": False, "worker_timeout_seconds": 10,
                     "schedules": {"every-minute": "rate(1 minute)"}},
        "30_app": {"function_zip": str(function_zip), "layer_zip": str(layer_zip),
                   "jobgate_app": "tests.apps:app", "worker_event_source_enabled": False},
    }  # fmt: skip
    applied: list[Path] = []
    outputs: dict[str, Any] = {}
    # bootstrap (its own project name) is applied beside the layers: it waits ~1 min on its
    # bucket's lifecycle, as the layers wait on theirs.
    boot: dict[str, Any] = {
        "dir": TERRAFORM_DIR / "bootstrap",
        "vars": work / "bootstrap.tfvars.json",
    }
    boot["vars"].write_text(json.dumps({"project": "jgboot", "aws_endpoint": moto_endpoint,
                                        "github_repository": "example/jobgate"}))  # fmt: skip
    booting = threading.Thread(target=_bootstrap, args=(terraform, boot, work), daemon=True)
    booting.start()
    try:
        for layer in LAYERS:
            backend = work / f"{layer.name}.s3.tfbackend"
            backend.write_text(
                _hcl({**state_backend, "key": f"{PROJECT}/test/{layer.name}.tfstate"})
            )
            var_file = work / f"{layer.name}.tfvars.json"
            var_file.write_text(json.dumps({**common, **variables[layer.name]}))
            terraform.init(layer, f"-backend-config={backend}")
            started = time.monotonic()
            applied.append(layer)
            terraform.run(layer, "apply", "-auto-approve", "-input=false", f"-var-file={var_file}")
            outputs[layer.name] = terraform.outputs(layer)
            outputs[f"{layer.name}_seconds"] = round(time.monotonic() - started, 1)
        booting.join(600)
        print("apply seconds:", {k: v for k, v in outputs.items() if k.endswith("_seconds")})
        yield {"outputs": outputs, "endpoint": moto_endpoint, "work": work, "bootstrap": boot,
               "state_backend": state_backend,
               "vars": {**common, **variables["30_app"]}}  # fmt: skip
    finally:
        booting.join(600)
        destroy = [(boot["dir"], boot["vars"])] if boot.get("applied") else []
        unbooting = threading.Thread(  # beside the layers again
            target=lambda: [
                terraform.run(d, "destroy", "-auto-approve", f"-var-file={v}") for d, v in destroy
            ]
        )
        unbooting.start()
        try:
            for layer in reversed(applied):
                var_file = work / f"{layer.name}.tfvars.json"
                terraform.run(
                    layer, "destroy", "-auto-approve", "-input=false", f"-var-file={var_file}"
                )
        finally:
            unbooting.join(600)


def _bootstrap(terraform: Terraform, boot: dict[str, Any], work: Path) -> None:
    try:
        terraform.init(boot["dir"], f"-backend-config=path={work / 'bootstrap.tfstate'}")
        boot["applied"] = True
        terraform.run(
            boot["dir"], "apply", "-auto-approve", "-input=false", f"-var-file={boot['vars']}"
        )
        boot["outputs"] = terraform.outputs(boot["dir"])
    except BaseException as exc:  # reported by the bootstrap test
        boot["error"] = exc


def _hcl(settings: dict[str, Any]) -> str:
    """A backend config file (HCL attributes; JSON values are valid HCL literals)."""
    return "".join(
        f"{name} = {json.dumps(value).replace(': ', ' = ')}\n" for name, value in settings.items()
    )


def wait_done(
    url: str, job_id: str, headers: dict[str, str], timeout: float = 90
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = httpx.get(f"{url}/jobs/{job_id}", headers=headers).json()
        if job["status"] in ("completed", "failed", "cancelled") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_the_applied_stack_has_what_the_issue_names(stack: dict[str, Any]) -> None:
    endpoint, out = stack["endpoint"], stack["outputs"]
    functions = out["30_app"]["functions"]
    lambdas = client(endpoint, "lambda")
    mapping = lambdas.get_event_source_mapping(UUID=out["30_app"]["event_source_mapping_uuid"])
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 10}
    assert mapping["State"] == "Disabled"  # moto cannot run the code; AWS runs it (enabled)
    for name in ("api", "worker", "cron"):
        config = lambdas.get_function_configuration(FunctionName=functions[name]["name"])
        assert config["Handler"] == f"jobgate.aws_lambda.{name}_handler"
        assert config["Layers"][0]["Arn"] == out["30_app"]["layer_arn"]
        assert config["TracingConfig"]["Mode"] == "Active"
    sqs = client(endpoint, "sqs")
    env = out["20_infra"]["jobgate_environment"]
    queue = sqs.get_queue_attributes(QueueUrl=env["JOBS_QUEUE_URL"], AttributeNames=["All"])[
        "Attributes"
    ]
    dlq = sqs.get_queue_attributes(QueueUrl=env["JOBS_DLQ_URL"], AttributeNames=["All"])[
        "Attributes"
    ]
    assert json.loads(queue["RedrivePolicy"])["maxReceiveCount"] == 10
    assert queue["VisibilityTimeout"] == "60" and queue["ReceiveMessageWaitTimeSeconds"] == "20"
    assert int(dlq["MessageRetentionPeriod"]) > int(queue["MessageRetentionPeriod"])
    dynamodb = client(endpoint, "dynamodb")
    ttl = dynamodb.describe_time_to_live(TableName=env["EVENTS_TABLE_NAME"])[
        "TimeToLiveDescription"
    ]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
    alarms = {
        a["AlarmName"] for a in client(endpoint, "cloudwatch").describe_alarms()["MetricAlarms"]
    }
    prefix = f"{PROJECT}-test"
    assert {f"{prefix}-jobs-oldest-message-age", f"{prefix}-jobs-dlq-not-empty",
            f"{prefix}-api-errors", f"{prefix}-worker-throttles", f"{prefix}-api-5xx-rate",
            f"{prefix}-job-failure-rate", f"{prefix}-job-run-time-p95",
            f"{prefix}-worker-near-timeout", f"{prefix}-jobs-throttled",
            f"{prefix}-notices-given-up", f"{prefix}-notifications-failed"} <= alarms  # fmt: skip
    watched = client(endpoint, "cloudwatch").get_dashboard(DashboardName=f"{prefix}-jobs")
    body = json.loads(watched["DashboardBody"])
    titles = {w["properties"]["title"] for w in body["widgets"]}
    assert {"Failure rate (failed / finished)", "Queue", "DynamoDB throttles"} <= titles
    events = client(endpoint, "events")
    for rule in (f"{prefix}-every-minute", f"{prefix}-housekeeping"):
        targets = events.list_targets_by_rule(Rule=rule)["Targets"]
        assert [t["Arn"] for t in targets] == [
            lambdas.get_function(FunctionName=functions["cron"]["name"])["Configuration"][
                "FunctionArn"
            ]
        ]


def test_jobgate_runs_on_the_created_resources_with_the_functions_environment(
    stack: dict[str, Any], tmp_path: Path
) -> None:
    endpoint, out = stack["endpoint"], stack["outputs"]
    # the operator puts the admin key into the secret Terraform made (it never holds values)
    client(endpoint, "secretsmanager").put_secret_value(
        SecretId=out["10_core"]["api_key_secret_arn"], SecretString=ADMIN_KEY
    )
    functions = out["30_app"]["functions"]
    lambdas = client(endpoint, "lambda")
    api_env, worker_env = (
        lambdas.get_function_configuration(FunctionName=functions[role]["name"])["Environment"][
            "Variables"
        ]
        for role in ("api", "worker")
    )
    effects_file = tmp_path / "effects.log"

    def environment(function_env: dict[str, str], **extra: str) -> dict[str, str]:
        """A function's environment as Terraform set it, plus what the Lambda runtime provides."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBGATE_", "AWS_"))}
        env.update(function_env, AWS_REGION=REGION, AWS_ENDPOINT_URL=endpoint, PYTHONPATH=str(ROOT),
                   AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                   JOBGATE_DATA_DIR=str(tmp_path / "data"), JOBGATE_TEST_EFFECTS=str(effects_file),
                   **extra)  # fmt: skip
        return env

    port = free_port()
    api = Process(
        ["api", "--host", "127.0.0.1", "--port", str(port)],
        environment(api_env),
        tmp_path / "api.log",
    )
    # The worker runs as a container would (`jobgate worker`); a short visibility timeout only so
    # that the jobs of the killed worker come back within the test, not after 60 s.
    fast = {"JOBGATE_RETRY_BASE_SECONDS": "0.1", "JOBGATE_RETRY_CAP_SECONDS": "0.2",
            "JOBGATE_VISIBILITY_TIMEOUT": "3", "JOBGATE_WORKER_CONCURRENCY": "12"}  # fmt: skip
    workers = [Process(["worker"], environment(worker_env, **fast), tmp_path / "worker-1.log")]
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, api)
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        user = httpx.post(
            f"{url}/users", json={"name": "T", "email": "t@example.com"}, headers=admin
        )
        assert user.status_code == 201, user.text
        alice = {"X-API-Key": user.json()["api_key"]}

        def submit(job_type: str, payload: Any = None) -> str:
            answer = httpx.post(
                f"{url}/jobs", json={"type": job_type, "payload": payload}, headers=alice
            )
            assert answer.status_code == 202, answer.text
            return str(answer.json()["job_id"])

        # kill -9 of the worker with 10 jobs in flight: every job completes, each effect once
        slow = [submit("effect", {"seconds": 4}) for _ in range(10)]
        wait_for(lambda: all(httpx.get(f"{url}/jobs/{j}", headers=alice).json()["status"] == "processing"
                             for j in slow), timeout=30)  # fmt: skip
        workers[0].kill9()
        workers.append(
            Process(["worker"], environment(worker_env, **fast), tmp_path / "worker-2.log")
        )
        echo, big, poison = (
            submit("echo", {"n": 1}),
            submit("big", {"size": 300_000}),
            submit("permanent"),
        )
        for job_id, status in [*((j, "completed") for j in slow), (echo, "completed"), (big, "completed"),
                               (poison, "failed")]:  # fmt: skip
            done = wait_done(url, job_id, alice)
            assert done["status"] == status, json.dumps(done)
        done_effects = Counter({k: n for k, n in effects(effects_file).items() if k[1] == "done"})
        assert done_effects == Counter({(j, "done"): 1 for j in slow})
        # results and artifacts through presigned URLs of the bucket Terraform made
        result = httpx.get(f"{url}/jobs/{big}/result", headers=alice, follow_redirects=False)
        assert result.status_code == 307 and "X-Amz-Signature" in result.headers["location"]
        assert len(json.loads(httpx.get(result.headers["location"]).content)["blob"]) == 300_000
        artifact = httpx.get(
            f"{url}/jobs/{big}/download-url?artifact=data.bin", headers=alice
        ).json()["url"]
        assert httpx.get(artifact).content == b"\x00\x01" * 5000
        # stored under the bucket's default encryption: the stack's KMS key
        s3 = client(endpoint, "s3")
        objects = s3.list_objects_v2(Bucket=api_env["S3_BUCKET_NAME"])["Contents"]
        assert objects
        for stored in objects:
            head = s3.head_object(Bucket=api_env["S3_BUCKET_NAME"], Key=stored["Key"])
            assert head["ServerSideEncryption"] == "aws:kms", stored["Key"]
            assert head["SSEKMSKeyId"].endswith(out["10_core"]["kms_key_arn"].rsplit("/", 1)[-1])
        # the poison job's message sits in the DLQ Terraform made
        dead = (
            client(endpoint, "sqs")
            .receive_message(
                QueueUrl=api_env["JOBS_DLQ_URL"], MaxNumberOfMessages=10, VisibilityTimeout=0
            )
            .get("Messages", [])
        )
        assert [poison in m["Body"] for m in dead] == [True]
    finally:
        for process in (api, *workers):
            if process.popen.poll() is None:
                process.stop()
    logs = "".join(p.log.read_text() for p in (api, *workers))
    assert ADMIN_KEY not in logs and "X-Amz-Signature" not in logs


def test_bootstrap_made_the_state_store_and_a_deploy_role_per_environment(
    stack: dict[str, Any],
) -> None:
    boot, endpoint = stack["bootstrap"], stack["endpoint"]
    assert "error" not in boot, boot.get("error")
    out = boot["outputs"]
    assert out["state_bucket"] == "jgboot-tfstate-123456789012"  # what infra/deploy.py names
    s3 = client(endpoint, "s3")
    assert s3.get_bucket_versioning(Bucket=out["state_bucket"])["Status"] == "Enabled"
    iam = client(endpoint, "iam")
    for env in ("dev", "stage", "prod"):
        role = iam.get_role(RoleName=f"jgboot-github-actions-{env}")["Role"]
        trust = json.dumps(role["AssumeRolePolicyDocument"])
        assert (
            f"repo:example/jobgate:environment:{env}" in trust
            and "token.actions.githubusercontent.com" in trust
        )
        attached = {
            p["PolicyName"]
            for p in iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]
        }
        assert {"jgboot-sqs-management", "jgboot-dynamodb-management", "jgboot-s3-management",
                "jgboot-lambda-management", "jgboot-state-management"} <= attached  # fmt: skip
        assert out["deploy_role_arns"][env] == role["Arn"]
    sqs = iam.get_policy_version(
        PolicyArn="arn:aws:iam::123456789012:policy/jgboot-sqs-management", VersionId="v1"
    )["PolicyVersion"]["Document"]
    sqs = json.loads(urllib.parse.unquote(sqs)) if isinstance(sqs, str) else sqs
    scoped = [st["Resource"] for st in sqs["Statement"] if "sqs:CreateQueue" in st["Action"]]
    assert scoped == ["arn:aws:sqs:us-east-1:123456789012:jgboot-*"]  # only the project's queues


def settings_the_code_reads() -> set[str]:
    from jobgate import aws_settings
    from jobgate.settings import Settings

    return {Settings.variable(name) for name in Settings.options()} | {
        *aws_settings.REQUIRED,
        *aws_settings.OPTIONAL,
    }


def test_the_functions_environment_is_exactly_settings_the_code_reads(
    stack: dict[str, Any],
) -> None:
    from jobgate import aws_settings

    endpoint, out = stack["endpoint"], stack["outputs"]
    lambdas, readable = client(endpoint, "lambda"), settings_the_code_reads()
    runtime_provided = {"AWS_REGION"}  # Lambda sets it; a function may not
    for role, function in out["30_app"]["functions"].items():
        env = lambdas.get_function_configuration(FunctionName=function["name"])["Environment"][
            "Variables"
        ]
        assert set(env) - readable == set(), f"{role} sets variables jobgate never reads"
        assert set(aws_settings.REQUIRED) - runtime_provided - set(env) == set(), (
            f"{role} lacks settings"
        )
        assert ("API_KEY_SECRET_ARN" in env) is (role == "api")  # only the API needs the admin key
        assert not {"JOBGATE_ADMIN_KEY", "JOBGATE_SIGNING_KEY"} & set(
            env
        )  # secrets stay in Secrets Manager
        queue = client(endpoint, "sqs").get_queue_attributes(
            QueueUrl=env["JOBS_QUEUE_URL"], AttributeNames=["VisibilityTimeout", "RedrivePolicy"]
        )["Attributes"]
        assert float(env["JOBGATE_VISIBILITY_TIMEOUT"]) == float(queue["VisibilityTimeout"])
        assert (
            int(env["JOBGATE_MAX_RECEIVES"])
            == json.loads(queue["RedrivePolicy"])["maxReceiveCount"]
        )
    # every setting a deployment needs is named by some layer's outputs, with the same value
    api_env = lambdas.get_function_configuration(
        FunctionName=out["30_app"]["functions"]["api"]["name"]
    )
    values = {**api_env["Environment"]["Variables"], "AWS_REGION": REGION}
    named = {k: v for layer in LAYERS for k, v in out[layer.name].items()}
    for name in (*aws_settings.REQUIRED, "API_KEY_SECRET_ARN"):
        assert named.get(name.lower()) == values[name], (
            f"no layer output {name.lower()} = {values[name]}"
        )


def test_the_app_runner_variant_applies_as_far_as_the_emulator_goes(
    stack: dict[str, Any],
) -> None:
    """compute = "apprunner" on its own state key beside the Lambda stack: the image repository
    and both services' roles are made (the worker's from the union of the worker and cron
    grants), then the apply stops at App Runner itself, which moto does not emulate."""
    endpoint, work = stack["endpoint"], stack["work"]
    layer = TERRAFORM_DIR / "deploy" / "30_app"
    variant = Terraform(work / "apprunner", {
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": "",
    })  # fmt: skip
    backend = work / "30_app-apprunner.s3.tfbackend"
    backend.write_text(
        _hcl({**stack["state_backend"], "key": f"{PROJECT}/test/30_app-apprunner.tfstate"})
    )
    var_file = work / "30_app-apprunner.tfvars.json"
    var_file.write_text(json.dumps({**stack["vars"], "compute": "apprunner",
                                    "force_delete_images": True}))  # fmt: skip
    variant.init(layer, f"-backend-config={backend}")
    targets = [
        "-target=aws_ecr_repository.images",
        *(f"-target=module.{m}[0].aws_iam_role_policy.{p}"
          for m in ("api_service", "worker_service") for p in ("code", "pull")),
    ]  # fmt: skip
    try:
        # what deploy.py applies first (the repository, so the image can be pushed), and the
        # services' roles: all of it within the emulator's reach
        variant.run(layer, "apply", "-auto-approve", "-input=false", *targets,
                    f"-var-file={var_file}")  # fmt: skip
        repos = client(endpoint, "ecr").describe_repositories()["repositories"]
        assert any(r["repositoryName"].endswith("-jobgate") for r in repos)
        # then the rest: it stops at App Runner's first resource
        applied = variant.run(layer, "apply", "-auto-approve", "-input=false",
                              f"-var-file={var_file}", check=False)  # fmt: skip
        output = applied.stdout + applied.stderr
        assert applied.returncode != 0, "moto has no App Runner: the apply cannot finish"
        assert "aws_apprunner" in output, output[-3000:]
        iam = client(endpoint, "iam")
        prefix = f"{PROJECT}-test"
        worker_policy = iam.get_role_policy(RoleName=f"{prefix}-worker-instance", PolicyName="code")
        document = worker_policy["PolicyDocument"]
        statements = document if isinstance(document, dict) else json.loads(document)
        actions = {a for st in statements["Statement"] for a in (
            st["Action"] if isinstance(st["Action"], list) else [st["Action"]])}  # fmt: skip
        assert {"sns:Publish", "sqs:ChangeMessageVisibility", "dynamodb:BatchGetItem"} <= actions
        api_role = iam.get_role(RoleName=f"{prefix}-api-instance")["Role"]
        assert "tasks.apprunner.amazonaws.com" in json.dumps(api_role["AssumeRolePolicyDocument"])
    finally:
        variant.run(layer, "destroy", "-auto-approve", "-input=false", f"-var-file={var_file}")
