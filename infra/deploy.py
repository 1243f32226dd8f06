"""Deploy jobgate with the Terraform in infra/terraform, to AWS or to the embedded emulator.

    python infra/deploy.py deploy  --env dev [--auto-approve]     (make deploy ENV=dev)
    python infra/deploy.py plan    --env dev                      (make plan ENV=dev)
    python infra/deploy.py destroy --env dev [--auto-approve]     (make destroy ENV=dev)
    python infra/deploy.py bootstrap [--auto-approve]             (make bootstrap)
    python infra/deploy.py image   --env prod [--tag T]           (make image ENV=prod)
    python infra/deploy.py deploy-local [--env dev] [--kms|--no-kms]   (make deploy-local)
    python infra/deploy.py destroy-local                          (make destroy-local)

``deploy``: package the Lambda code (infra/package.py), check the bootstrap's state bucket
(``<project>-tfstate-<account id>``, named from the account the credentials belong to), then
10_core → 20_infra → 30_app, each planned, shown and applied after you confirm (or at once with
``--auto-approve`` / ``AUTO_APPROVE=1``). State: one object per layer and environment in that
bucket, locked with S3's own lock file (``use_lockfile``). ``destroy`` goes the other way.

``deploy-local`` does the same into moto's server on loopback (no account, no internet): it
starts the emulator in the background, applies the three layers into it, then runs ``jobgate
api`` and ``jobgate worker`` against exactly the resources Terraform created — with the
environment Terraform gave the Lambda functions and the admin key its secret holds — and prints
the URL and the key. ``destroy-local`` stops them, destroys the layers and the emulator. Its
state lives in ``.jobgate/deploy-local/`` (``--state-dir``).

Terraform's working data goes to ``build/deploy/`` (never into the repository). Where the
machine has a provider mirror (``TF_PROVIDER_MIRROR``, ``/opt/tf-plugins``,
``/usr/share/terraform/plugins``), providers come from it and the registry is not asked.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM = ROOT / "infra" / "terraform"
LAYERS = ("10_core", "20_infra", "30_app")
WORK = ROOT / "build" / "deploy"
LOCAL_STATE = ROOT / ".jobgate" / "deploy-local"
EMULATOR_ACCOUNT = "123456789012"  # moto's
REGION = "us-east-1"

# What an emulator run must turn off (each variable's description says why) and what it sets.
LOCAL_VARIABLES: dict[str, dict[str, Any]] = {
    "10_core": {"secret_recovery_window_days": 0},
    "20_infra": {
        "deletion_protection": False,
        "force_destroy_bucket": True,
        "enable_redrive_allow_policy": False,
        "deny_insecure_transport": False,
    },
    "30_app": {"worker_event_source_enabled": False},
}


class DeployError(Exception):
    """A step that cannot go on; the message says what to do."""


_STARTED = time.monotonic()


def say(text: str) -> None:
    print(f"==> [{time.monotonic() - _STARTED:5.0f} s] {text}", flush=True)


def provider_mirror() -> Path | None:
    """The folder holding ``registry.terraform.io`` with the AWS provider (TF_PROVIDER_MIRROR,
    else the known places), or None. The infrastructure tests use it too."""
    for candidate in (os.environ.get("TF_PROVIDER_MIRROR", ""), "/opt/tf-plugins",
                      "/usr/share/terraform/plugins"):  # fmt: skip
        if candidate and (Path(candidate) / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
            return Path(candidate)
    return None


def cli_config(mirror: Path) -> str:
    """A Terraform CLI configuration that takes HashiCorp's providers from ``mirror`` only."""
    return (
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n'
        '    include = ["registry.terraform.io/hashicorp/*"]\n  }\n'
        '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n}\n'
        "disable_checkpoint = true\n"
    )


@dataclass
class Terraform:
    """``terraform`` with its data under ``work`` and, where there is one, the provider mirror."""

    work: Path
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        extra = {"TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
        given = {**os.environ, **self.env}.get("TF_CLI_CONFIG_FILE", "")
        mirror = provider_mirror()
        if mirror is not None and not Path(given).is_file():  # a CLI config of yours wins
            config = self.work / "cli.tfrc"
            config.write_text(cli_config(mirror))
            extra["TF_CLI_CONFIG_FILE"] = str(config)
        self.env = {**os.environ, **self.env, **extra}

    def run(self, folder: Path, *args: str, capture: bool = False) -> str:
        data = self.work / "data" / folder.name
        env = {**self.env, "TF_DATA_DIR": str(data)}
        command = ["terraform", f"-chdir={folder}", *args]
        done = subprocess.run(command, env=env, text=True, capture_output=capture)
        if done.returncode != 0:
            detail = (done.stderr or "")[-3000:] if capture else ""
            raise DeployError(f"terraform {args[0]} in {folder.relative_to(ROOT)} failed{detail}")
        return done.stdout or ""


def _hcl(settings: dict[str, Any]) -> str:
    """A backend config file: ``name = value`` lines, maps as blocks (JSON literals are HCL)."""
    lines = []
    for name, value in settings.items():
        if isinstance(value, dict):
            inner = "".join(f"  {k} = {json.dumps(v)}\n" for k, v in value.items())
            lines.append(f"{name} = {{\n{inner}}}\n")
        else:
            lines.append(f"{name} = {json.dumps(value)}\n")
    return "".join(lines)


@dataclass
class Stack:
    """One environment's three layers and where their state is."""

    env: str
    project: str
    region: str
    backend: dict[str, Any]  # the S3 backend's settings, less the key
    variables: dict[str, dict[str, Any]]  # per layer, beside environments/<env>/terraform.tfvars
    terraform: Terraform
    auto_approve: bool
    _ready: dict[str, tuple[Path, list[str]]] = field(default_factory=dict)  # init'ed layers

    def _files(self, layer: str) -> tuple[Path, Path]:
        work = self.terraform.work
        backend = work / f"{layer}.s3.tfbackend"
        backend.write_text(_hcl({**self.backend, "key": self.key(layer)}))
        variables = work / f"{layer}.tfvars.json"
        variables.write_text(
            json.dumps(
                {
                    "project": self.project,
                    "state_backend": self.backend,
                    **self.variables.get(layer, {}),
                },
                indent=2,
            )
        )
        return backend, variables

    def key(self, layer: str) -> str:
        return f"{self.project}/{self.env}/{layer}.tfstate"

    def _init(self, layer: str) -> tuple[Path, list[str]]:
        """``terraform init`` of the layer, once per run; its folder and var-file flags."""
        if layer in self._ready:
            return self._ready[layer]
        folder = TERRAFORM / "deploy" / layer
        backend, variables = self._files(layer)
        self.terraform.run(folder, "init", "-input=false", "-reconfigure",
                           f"-backend-config={backend}", capture=True)  # fmt: skip
        env_vars = folder / "environments" / self.env / "terraform.tfvars"
        self._ready[layer] = folder, [f"-var-file={env_vars}", f"-var-file={variables}"]
        return self._ready[layer]

    def compute(self) -> str:
        """30_app's ``compute`` for this environment (lambda unless its tfvars say otherwise)."""
        text = TERRAFORM / "deploy" / "30_app" / "environments" / self.env / "terraform.tfvars"
        found = re.search(r'^\s*compute\s*=\s*"(\w+)"', text.read_text(), re.M)
        return str(
            self.variables.get("30_app", {}).get("compute") or (found and found[1]) or "lambda"
        )

    def apply(self) -> None:
        for n, layer in enumerate(LAYERS, 1):
            say(f"[{n}/{len(LAYERS)}] {layer} ({self.env}): plan")
            folder, var_files = self._init(layer)
            if layer == "30_app" and self.compute() == "apprunner":
                # the services run an image that must be in the repository first
                say("App Runner: the image repository first, then jobgate's image into it")
                self.terraform.run(folder, "apply", "-input=false", "-auto-approve",
                                   "-target=aws_ecr_repository.images", *var_files)  # fmt: skip
                push_image(self.outputs("30_app")["services"]["repository"], self.region)
            plan = self.terraform.work / f"{layer}.tfplan"
            self.terraform.run(folder, "plan", "-input=false", *var_files, f"-out={plan}",
                               *(["-compact-warnings"] if self.auto_approve else []))  # fmt: skip
            self._confirm(f"apply this plan to {layer} ({self.env})?")
            say(f"[{n}/{len(LAYERS)}] {layer} ({self.env}): apply")
            self.terraform.run(folder, "apply", "-input=false", str(plan))

    def plan(self) -> None:
        """Show what each layer would change; change nothing (a lower layer not yet applied
        makes the layers above it fail to plan, as they read its state)."""
        for n, layer in enumerate(LAYERS, 1):
            say(f"[{n}/{len(LAYERS)}] {layer} ({self.env}): plan")
            folder, var_files = self._init(layer)
            self.terraform.run(folder, "plan", "-input=false", "-lock=false", *var_files)

    def destroy(self) -> None:
        for n, layer in enumerate(reversed(LAYERS), 1):
            say(f"[{n}/{len(LAYERS)}] {layer} ({self.env}): destroy")
            folder, var_files = self._init(layer)
            if not self.auto_approve:
                self.terraform.run(folder, "plan", "-destroy", "-input=false", *var_files)
                self._confirm(f"destroy {layer} ({self.env})?")
            self.terraform.run(folder, "destroy", "-auto-approve", "-input=false", *var_files)

    def outputs(self, layer: str) -> dict[str, Any]:
        folder, _ = self._init(layer)
        raw = json.loads(self.terraform.run(folder, "output", "-json", capture=True))
        return {name: value["value"] for name, value in raw.items()}

    def _confirm(self, question: str) -> None:
        if self.auto_approve:
            return
        if not sys.stdin.isatty():
            raise DeployError(f"{question} needs a yes: run in a terminal, or AUTO_APPROVE=1")
        if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
            raise DeployError("stopped: nothing more was changed")


def ensure_admin_key(secrets: Any, secret_arn: str) -> tuple[str, bool]:
    """The admin API key the secret holds; a new one put into it when it holds none yet
    (Terraform makes the secret, never its value). Returns (key, whether it was made now)."""
    try:
        return str(secrets.get_secret_value(SecretId=secret_arn)["SecretString"]), False
    except secrets.exceptions.ResourceNotFoundException:
        import secrets as random

        key = "jg_admin_" + random.token_urlsafe(32)
        secrets.put_secret_value(SecretId=secret_arn, SecretString=key)
        return key, True


def push_image(repository: str, region: str, tag: str = "latest") -> None:
    """Build the Dockerfile's image and push it to ``repository`` (an ECR URL) as ``tag``."""
    import base64
    import shutil

    engine = shutil.which("docker") or shutil.which("podman")
    if engine is None:
        raise DeployError("compute = apprunner needs docker (or podman) to build the image")
    import boto3

    token = boto3.client("ecr", region_name=region).get_authorization_token()
    user, password = base64.b64decode(
        token["authorizationData"][0]["authorizationToken"]
    ).decode().split(":", 1)  # fmt: skip
    registry = repository.split("/", 1)[0]
    subprocess.run([engine, "login", "--username", user, "--password-stdin", registry],
                   input=password, text=True, check=True)  # fmt: skip
    image = f"{repository}:{tag}"
    subprocess.run([engine, "build", "-t", image, str(ROOT)], check=True)
    subprocess.run([engine, "push", image], check=True)


def cmd_image(args: argparse.Namespace) -> None:
    stack = _aws_stack(args)
    services = stack.outputs("30_app").get("services")
    if not services:
        raise DeployError(f"{args.env} runs on Lambda (compute = lambda): there is no image")
    push_image(services["repository"], args.region, args.tag)


def package() -> None:
    say("packaging the Lambda code (build/lambda/function.zip, layer.zip)")
    subprocess.run([sys.executable, str(ROOT / "infra" / "package.py")], check=True)


def _auto(args: argparse.Namespace) -> bool:
    return bool(args.auto_approve or os.environ.get("AUTO_APPROVE") == "1")


# -- AWS ------------------------------------------------------------------------------------------


def _account(region: str) -> str:
    try:
        import boto3

        return str(boto3.client("sts", region_name=region).get_caller_identity()["Account"])
    except Exception as exc:  # no credentials, no network: say so in one line
        raise DeployError(f"cannot tell which AWS account to deploy to ({exc})") from None


def _aws_stack(args: argparse.Namespace) -> Stack:
    account = _account(args.region)
    bucket = f"{args.project}-tfstate-{account}"
    import boto3

    try:
        boto3.client("s3", region_name=args.region).head_bucket(Bucket=bucket)
    except Exception:
        raise DeployError(
            f"the state bucket {bucket} does not exist in account {account}: run "
            "`make bootstrap` once per account first"
        ) from None
    backend = {"bucket": bucket, "region": args.region, "use_lockfile": True, "encrypt": True}
    return Stack(args.env, args.project, args.region, backend, {}, Terraform(WORK / args.env),
                 _auto(args))  # fmt: skip


def cmd_deploy(args: argparse.Namespace) -> None:
    stack = _aws_stack(args)
    package()
    stack.apply()
    import boto3

    outputs = stack.outputs("30_app")
    secrets = boto3.client("secretsmanager", region_name=args.region)
    key, made = ensure_admin_key(secrets, outputs["api_key_secret_arn"])
    say(f"deployed {args.env}: {outputs['api_url']}")
    if made:
        say(f"the admin API key (put into {outputs['api_key_secret_arn']}; shown this once):")
        print(key)


def cmd_plan(args: argparse.Namespace) -> None:
    _aws_stack(args).plan()


def cmd_destroy(args: argparse.Namespace) -> None:
    _aws_stack(args).destroy()
    say(f"destroyed {args.env}")


def cmd_bootstrap(args: argparse.Namespace) -> None:
    """The state bucket and the deploy roles: once per account, with local state."""
    terraform = Terraform(WORK / "bootstrap")
    folder = TERRAFORM / "bootstrap"
    state = WORK / "bootstrap" / "terraform.tfstate"
    terraform.run(folder, "init", "-input=false", capture=True)
    variables = ["-var", f"project={args.project}", "-var", f"aws_region={args.region}"]
    if args.github_repository:
        variables += ["-var", f"github_repository={args.github_repository}"]
    approve = ["-auto-approve"] if _auto(args) else []
    terraform.run(folder, "apply", "-input=false", f"-state={state}", *variables, *approve)
    say(f"bootstrapped (its state: {state.relative_to(ROOT)}; keep it)")


# -- the emulator ---------------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(name: str, command: list[str], env: dict[str, str], state_dir: Path) -> int:
    log = open(state_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it open
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True, cwd=ROOT)  # fmt: skip
    return process.pid


def _wait_url(url: str, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own http URL
                return
        except OSError:
            time.sleep(0.3)
    raise DeployError(f"{what} did not answer at {url} within {seconds:g} s")


def _local_env() -> dict[str, str]:
    return {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip


def _local_stack(args: argparse.Namespace, endpoint: str, state_dir: Path) -> Stack:
    backend = {
        "bucket": f"{args.project}-tfstate-{EMULATOR_ACCOUNT}", "region": REGION,
        "use_lockfile": True, "encrypt": True,
        "endpoints": {"s3": endpoint}, "use_path_style": True,
        "skip_credentials_validation": True, "skip_requesting_account_id": True,
        "skip_metadata_api_check": True, "access_key": "test", "secret_key": "test",
    }  # fmt: skip
    variables = {layer: {**v, "aws_endpoint": endpoint} for layer, v in LOCAL_VARIABLES.items()}
    if args.kms is not None:
        variables["10_core"]["create_kms_key"] = args.kms
    if args.app:
        variables["30_app"]["jobgate_app"] = args.app
    env = {**_local_env(), "AWS_ENDPOINT_URL": ""}  # the provider's endpoints decide
    return Stack(args.env, args.project, REGION, backend, variables,
                 Terraform(state_dir / "terraform", env), True)  # fmt: skip


def _python() -> str:
    return sys.executable


def cmd_deploy_local(args: argparse.Namespace) -> None:
    try:
        _deploy_local(args)
    except BaseException:
        print("deploy: deploy-local did not finish; `make destroy-local` ends what it started",
              file=sys.stderr)  # fmt: skip
        raise


def _deploy_local(args: argparse.Namespace) -> None:
    state_dir: Path = args.state_dir
    if (state_dir / "state.json").exists():
        raise DeployError(f"a local deployment runs already ({state_dir}): make destroy-local")
    state_dir.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"env": args.env, "project": args.project, "pids": {}}
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    state["endpoint"] = endpoint
    say(f"starting the AWS emulator (moto) at {endpoint}")
    state["pids"]["emulator"] = _spawn(
        "emulator", [_python(), "-m", "jobgate.testing.emulator", "--port", str(port)],
        _local_env(), state_dir,
    )  # fmt: skip
    _save(state_dir, state)
    _wait_url(f"{endpoint}/moto-api/", 60, "the emulator")
    import boto3

    aws = {"region_name": REGION, "endpoint_url": endpoint,
           "aws_access_key_id": "test", "aws_secret_access_key": "test"}  # fmt: skip
    stack = _local_stack(args, endpoint, state_dir)
    boto3.client("s3", **aws).create_bucket(Bucket=stack.backend["bucket"])  # what bootstrap makes
    if not (ROOT / "build" / "lambda" / "layer.zip").exists() or args.package:
        package()
    stack.apply()
    # jobgate's API and worker, configured as Terraform configured the functions
    functions = boto3.client("lambda", **aws)
    prefix = stack.outputs("10_core")["name_prefix"]
    api_env = functions.get_function_configuration(FunctionName=f"{prefix}-api")
    worker_env = functions.get_function_configuration(FunctionName=f"{prefix}-worker")
    secret_arn = api_env["Environment"]["Variables"]["API_KEY_SECRET_ARN"]
    admin_key, _ = ensure_admin_key(boto3.client("secretsmanager", **aws), secret_arn)
    api_port = args.port or _free_port()
    url = f"http://127.0.0.1:{api_port}"
    path = os.pathsep.join(filter(None, [str(Path.cwd()), os.environ.get("PYTHONPATH")]))
    base = {**_local_env(), "AWS_ENDPOINT_URL": endpoint, "JOBGATE_PUBLIC_URL": url,
            "JOBGATE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1", "JOBGATE_WEBHOOK_REQUIRE_HTTPS": "false",
            "PYTHONPATH": path}  # fmt: skip
    jobgate = [_python(), "-m", "jobgate.cli.main"]
    state["pids"]["api"] = _spawn(
        "api", [*jobgate, "api", "--host", "127.0.0.1", "--port", str(api_port)],
        {**base, **api_env["Environment"]["Variables"], "JOBGATE_PUBLIC_URL": url}, state_dir,
    )  # fmt: skip
    state["pids"]["worker"] = _spawn(
        "worker", [*jobgate, "worker"],
        {**base, **worker_env["Environment"]["Variables"], "JOBGATE_PUBLIC_URL": url}, state_dir,
    )  # fmt: skip
    state["url"] = url
    _save(state_dir, state)
    (state_dir / "admin_key").write_text(admin_key + "\n")
    (state_dir / "admin_key").chmod(0o600)
    _wait_url(f"{url}/healthz", 60, "jobgate's API")
    say(f"jobgate on the emulator: {url}  (admin key in {state_dir}/admin_key)")
    print(f"export JOBGATE_URL={url}")
    print(f"export JOBGATE_ADMIN_KEY={admin_key}")
    say("end it with: make destroy-local")


def _save(state_dir: Path, state: dict[str, Any]) -> None:
    (state_dir / "state.json").write_text(json.dumps(state, indent=2))


def _stop(pid: int, seconds: float = 20) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            stat = Path(f"/proc/{pid}/stat")
            if stat.exists() and " Z " in stat.read_text():
                return  # a zombie: it has exited
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


def cmd_destroy_local(args: argparse.Namespace) -> None:
    state_dir: Path = args.state_dir
    path = state_dir / "state.json"
    if not path.exists():
        raise DeployError(f"no local deployment in {state_dir}: nothing to destroy")
    state = json.loads(path.read_text())
    for name in ("worker", "api"):
        if name in state["pids"]:
            say(f"stopping jobgate {name}")
            _stop(state["pids"][name])
    args.env, args.project = state["env"], state["project"]
    try:
        _local_stack(args, state["endpoint"], state_dir).destroy()
    finally:
        say("stopping the emulator")
        _stop(state["pids"]["emulator"])
        import shutil

        shutil.rmtree(state_dir, ignore_errors=True)
    say("the local deployment is gone")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Deploy jobgate with infra/terraform (to AWS, or to the embedded emulator).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("--project", default=os.environ.get("PROJECT", "jobgate"))
    parser.add_argument("--region", default=os.environ.get("AWS_REGION", REGION))
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("deploy", "package, then apply 10_core → 20_infra → 30_app"),
                       ("plan", "show what deploy would change, change nothing"),
                       ("destroy", "destroy 30_app → 20_infra → 10_core")):  # fmt: skip
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--env", required=True, choices=["dev", "stage", "prod"])
        sub.add_argument("--auto-approve", action="store_true", help="no confirmation")
    image = commands.add_parser("image", help="build and push the image (compute = apprunner)")
    image.add_argument("--env", required=True, choices=["dev", "stage", "prod"])
    image.add_argument("--tag", default="latest")
    boot = commands.add_parser("bootstrap", help="state bucket + deploy roles (once per account)")
    boot.add_argument("--github-repository", help="owner/name allowed to assume the roles")
    boot.add_argument("--auto-approve", action="store_true")
    local = commands.add_parser("deploy-local", help="deploy into the embedded emulator")
    local.add_argument("--env", default="dev", choices=["dev", "stage", "prod"])
    local.add_argument("--kms", dest="kms", action="store_true", default=None,
                       help="create the KMS key (default: as the environment says)")  # fmt: skip
    local.add_argument("--no-kms", dest="kms", action="store_false")
    local.add_argument("--app", help="JOBGATE_APP of the functions (default: the env's)")
    local.add_argument("--port", type=int, help="the API's port (default: a free one)")
    local.add_argument("--package", action="store_true", help="package even if built already")
    local.add_argument("--state-dir", type=Path, default=LOCAL_STATE)
    gone = commands.add_parser("destroy-local", help="end what deploy-local made")
    gone.add_argument("--state-dir", type=Path, default=LOCAL_STATE)
    args = parser.parse_args(argv)
    if args.command == "destroy-local":
        args.kms, args.app = None, None
    handlers = {"deploy": cmd_deploy, "plan": cmd_plan, "destroy": cmd_destroy,
                "bootstrap": cmd_bootstrap, "deploy-local": cmd_deploy_local, "image": cmd_image,
                "destroy-local": cmd_destroy_local}  # fmt: skip
    try:
        handlers[args.command](args)
    except DeployError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deploy: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
