"""deploy/kubernetes stays correct without a cluster.

What is checked for real, with the libraries the deployment itself runs:
- the instance config (dagster.yaml) through Dagster's own loading path (`InstanceRef.from_dir`, then each
  configured class's `config_type()`, exactly as `DagsterInstance` rehydrates them, without connecting);
- the Helm values: the instance config the chart renders from them (mirrored here: the chart itself and its
  `values.schema.json` are not available offline) goes through the same Dagster validation, and every
  Kubernetes object in them through the Kubernetes API models that dagster-k8s builds Jobs with;
- the run pod the K8sRunLauncher would create, built by dagster-k8s's own `construct_dagster_k8s_job`;
- the migration Job manifest, against the Kubernetes API models;
- the image: what the Dockerfile copies exists, and its command and the chart's arguments are accepted by
  Dagster's own `code-server start` command and name the module that loads as this code location.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import click
import dagster as dg
import kubernetes.client
import pytest
import yaml
from dagster._cli.code_server import start_command
from dagster._config import process_config, resolve_to_config_type
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.errors import DagsterImportError, DagsterInvalidConfigError
from dagster._core.instance.ref import InstanceRef
from dagster._serdes.config_class import ConfigurableClassData
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import DagsterK8sJobConfig, UserDefinedDagsterK8sConfig, construct_dagster_k8s_job
from dagster_k8s.models import k8s_model_from_dict, k8s_snake_case_dict
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "kubernetes"
INSTANCE_YAML = DEPLOY / "dagster.yaml"
VALUES_YAML = DEPLOY / "values.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
MIGRATION_JOB_YAML = DEPLOY / "warehouse-migration-job.yaml"

# What the README's commands install: release `dagster` in namespace `invoice-pipeline`.
RELEASE = "dagster"
NAMESPACE = "invoice-pipeline"
IMAGE = "registry.example.com/invoice-pipeline:0.1.0"
DAGSTER_HOME = "/opt/dagster/dagster_home"

# Dummy values for the environment variables deploy/kubernetes/dagster.yaml reads.
INSTANCE_ENV = {
    "DAGSTER_PG_HOST": "postgres.example.internal",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "not-a-real-password",
    "DAGSTER_K8S_JOB_NAMESPACE": NAMESPACE,
}


def load_yaml(path: Path) -> dict[str, Any]:
    """One YAML document as a dict."""
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), f"{path} is not a mapping"
    return loaded


def k8s_object(model: type, data: Mapping[str, Any]) -> Any:
    """`data` as a Kubernetes API model, refusing unknown keys at any depth (dagster-k8s's strict parser)."""
    return k8s_model_from_dict(model, k8s_snake_case_dict(model, data))


# --- the instance config, validated the way Dagster loads an instance --------------------------------------


def validated_instance(config: Mapping[str, Any], base_dir: Path) -> dict[str, Any]:
    """Every configured class of an instance config, processed by its own `config_type()`.

    Writes `config` as `dagster.yaml` in `base_dir`, reads it back with `InstanceRef.from_dir` (the schema
    of `dagster.yaml`), then processes each class's config like `ConfigurableClassData.rehydrate` does,
    environment variables included, without instantiating anything (no database, no cluster needed).
    Returns the processed config per class ("module.Class"); raises DagsterInvalidConfigError otherwise.
    """
    base_dir.mkdir(parents=True, exist_ok=True)
    (base_dir / "dagster.yaml").write_text(yaml.safe_dump(dict(config)), encoding="utf-8")
    ref = InstanceRef.from_dir(str(base_dir))
    processed: dict[str, Any] = {}
    for data in ref:
        if not isinstance(data, ConfigurableClassData):
            continue
        klass = getattr(__import__(data.module_name, fromlist=[data.class_name]), data.class_name)
        result = process_config(resolve_to_config_type(klass.config_type()), data.config_dict)
        if not result.success:
            raise DagsterInvalidConfigError(
                f"Errors in the config of {data.class_name}", result.errors, data.config_dict
            )
        processed[f"{data.module_name}.{data.class_name}"] = result.value
    return processed


@pytest.fixture
def instance_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment variables the instance config names, set to dummy values."""
    for name, value in INSTANCE_ENV.items():
        monkeypatch.setenv(name, value)


def launcher_config(processed: Mapping[str, Any]) -> dict[str, Any]:
    """The processed K8sRunLauncher config of a validated instance."""
    return processed["dagster_k8s.K8sRunLauncher"]


def coordinator_config(processed: Mapping[str, Any]) -> dict[str, Any]:
    """The processed QueuedRunCoordinator config of a validated instance."""
    (config,) = [value for key, value in processed.items() if key.endswith(".QueuedRunCoordinator")]
    return config


def test_instance_config_passes_dagsters_own_validation_with_postgres_queue_and_k8s_launcher(
    tmp_path: Path, instance_env: None
) -> None:
    processed = validated_instance(load_yaml(INSTANCE_YAML), tmp_path)

    assert processed["dagster_postgres.DagsterPostgresStorage"]["postgres_db"] == {
        "hostname": "postgres.example.internal",
        "port": 5432,
        "db_name": "dagster",
        "username": "dagster",
        "password": "not-a-real-password",
        "params": {"sslmode": "require"},
        "scheme": "postgresql+psycopg2",
    }
    assert launcher_config(processed)["job_namespace"] == NAMESPACE
    assert "dagster._core.scheduler.DagsterDaemonScheduler" in processed


def test_instance_config_queues_one_import_per_invoice_like_the_local_instance(
    tmp_path: Path, instance_env: None
) -> None:
    processed = validated_instance(load_yaml(INSTANCE_YAML), tmp_path)
    local = load_yaml(REPO / "dagster.yaml")["run_coordinator"]["config"]

    limits = coordinator_config(processed)["tag_concurrency_limits"]
    assert limits == local["tag_concurrency_limits"]
    assert limits == [{"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
    assert coordinator_config(processed)["max_concurrent_runs"] > 1


def test_instance_config_holds_no_secret_only_environment_variable_names() -> None:
    text = INSTANCE_YAML.read_text(encoding="utf-8")
    assert INSTANCE_ENV["DAGSTER_PG_PASSWORD"] not in text
    assert load_yaml(INSTANCE_YAML)["storage"]["postgres"]["postgres_db"]["password"] == {"env": "DAGSTER_PG_PASSWORD"}


def test_instance_config_needs_its_environment_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in INSTANCE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DAGSTER_PG_HOST")
    with pytest.raises(DagsterInvalidConfigError, match="DAGSTER_PG_HOST"):
        validated_instance(load_yaml(INSTANCE_YAML), tmp_path)


def misspell(config: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
    """A copy of `config` whose key at `path` gets an extra letter (its value kept)."""
    broken = copy.deepcopy(config)
    parent = broken
    for step in path[:-1]:
        parent = parent[step]
    parent[f"{path[-1]}x"] = parent.pop(path[-1])
    return broken


@pytest.mark.parametrize(
    "path",
    [
        ("telemetry",),
        ("storage", "postgres", "postgres_db", "hostname"),
        ("run_coordinator", "config", "max_concurrent_runs"),
        ("run_coordinator", "config", "tag_concurrency_limits", 0, "value", "applyLimitPerUniqueValue"),
        ("run_launcher", "config", "instance_config_map"),
        ("run_launcher", "config", "env_secrets"),
        ("run_monitoring", "start_timeout_seconds"),
    ],
    ids=lambda path: ".".join(map(str, path)),
)
def test_instance_config_with_a_misspelt_key_is_rejected(
    tmp_path: Path, instance_env: None, path: tuple[str | int, ...]
) -> None:
    with pytest.raises(DagsterInvalidConfigError, match="unexpected config entry"):
        validated_instance(misspell(load_yaml(INSTANCE_YAML), path), tmp_path)


# --- the run pod the K8sRunLauncher creates ----------------------------------------------------------------


# The K8sRunLauncher settings that `K8sContainerContext.create_for_run` passes on under the same name.
LAUNCHER_CONTAINER_FIELDS = (
    "image_pull_policy",
    "image_pull_secrets",
    "service_account_name",
    "env_config_maps",
    "env_secrets",
    "env_vars",
    "volume_mounts",
    "volumes",
    "labels",
    "resources",
    "scheduler_name",
    "security_context",
)


def run_job(launcher: Mapping[str, Any], code_location_context: K8sContainerContext | None = None) -> Any:
    """The Kubernetes Job the K8sRunLauncher submits for a run, built by dagster-k8s itself.

    Mirrors `K8sContainerContext.create_for_run` and `K8sRunLauncher._launch_k8s_job_with_args`: the
    launcher's settings merged with the code location's container context, then `construct_dagster_k8s_job`,
    which parses the result into `kubernetes.client.V1Job` (unknown or malformed fields raise).
    """
    context = K8sContainerContext(
        **{field: launcher.get(field) for field in LAUNCHER_CONTAINER_FIELDS},
        namespace=launcher.get("job_namespace"),
        run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(launcher.get("run_k8s_config") or {}),
    )
    if code_location_context is not None:
        context = context.merge(code_location_context)
    job_config = DagsterK8sJobConfig(
        job_image=IMAGE,
        dagster_home=launcher["dagster_home"],
        instance_config_map=launcher["instance_config_map"],
        postgres_password_secret=launcher.get("postgres_password_secret"),
    )
    return construct_dagster_k8s_job(
        job_config=job_config,
        args=["dagster", "api", "execute_run", "{}"],
        job_name="dagster-run-0123456789",
        pod_name="dagster-run-0123456789",
        component="run_worker",
        user_defined_k8s_config=context.run_k8s_config,
        labels={"dagster/job": "import_provider_invoice"},
    )


def assert_run_pod_reads_config_and_secrets(job: kubernetes.client.V1Job) -> None:
    """The run pod finds the pipeline config file, the pipeline Secret and the instance password."""
    pod = job.spec.template.spec
    (container,) = pod.containers
    env = {e.name: e for e in container.env}
    config_path = Path(env["INVOICE_PIPELINE_CONFIG"].value)
    mounts = {m.name: m for m in container.volume_mounts}
    volumes = {v.name: v for v in pod.volumes}
    config_mounts = [m for m in mounts.values() if config_path.parent == Path(m.mount_path)]
    assert config_mounts, f"{config_path} is on no volume mount"
    assert volumes[config_mounts[0].name].config_map.name == "invoice-pipeline-config"
    assert "invoice-pipeline-secrets" in [s.secret_ref.name for s in container.env_from if s.secret_ref]
    assert env["DAGSTER_PG_PASSWORD"].value_from.secret_key_ref.name == "dagster-postgresql-secret"
    assert env["DAGSTER_PG_PASSWORD"].value_from.secret_key_ref.key == "postgresql-password"
    assert container.image == IMAGE
    assert container.security_context.run_as_non_root is not False


def test_k8s_run_launcher_of_the_instance_config_builds_a_valid_run_job(tmp_path: Path, instance_env: None) -> None:
    launcher = launcher_config(validated_instance(load_yaml(INSTANCE_YAML), tmp_path))
    job = run_job(launcher)
    assert isinstance(job, kubernetes.client.V1Job)
    assert_run_pod_reads_config_and_secrets(job)


def test_k8s_run_launcher_rejects_a_malformed_volume(tmp_path: Path, instance_env: None) -> None:
    launcher = launcher_config(validated_instance(load_yaml(INSTANCE_YAML), tmp_path))
    broken = copy.deepcopy(launcher)
    broken["volumes"][0]["configMapp"] = broken["volumes"][0].pop("configMap")
    with pytest.raises(Exception, match="Unexpected keys"):
        run_job(broken)


# --- the Helm values -----------------------------------------------------------------------------------------


def only_keys(section: Mapping[str, Any], where: str, known: set[str]) -> Mapping[str, Any]:
    """`section`, after checking it uses no key this mirror of the chart does not know (catches misspellings)."""
    unknown = set(section) - known
    assert not unknown, f"{where}: keys {sorted(unknown)} are not rendered by the mirror of the chart"
    return section


def instance_config_from_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The instance config (dagster.yaml) that the dagster/dagster chart renders from `values`.

    A mirror of the chart's instance ConfigMap template for the sections this deployment sets: the chart
    itself cannot be rendered here (no helm binary, no network to the chart repository). It maps each value
    the way the chart's template does (camelCase values -> snake_case instance keys) and is strict about
    keys, so a misspelt value fails here instead of being silently ignored.
    """
    pg = only_keys(
        values["postgresql"],
        "postgresql",
        {
            "enabled",
            "postgresqlHost",
            "postgresqlUsername",
            "postgresqlDatabase",
            "postgresqlParams",
            "postgresqlScheme",
            "service",
        },
    )
    daemon = only_keys(
        values["dagsterDaemon"], "dagsterDaemon", {"enabled", "runCoordinator", "runMonitoring", "runRetries"}
    )
    coordinator = only_keys(daemon["runCoordinator"], "dagsterDaemon.runCoordinator", {"enabled", "type", "config"})
    queue = only_keys(
        coordinator["config"]["queuedRunCoordinator"],
        "queuedRunCoordinator",
        {"maxConcurrentRuns", "tagConcurrencyLimits", "dequeueIntervalSeconds"},
    )
    launcher_values = values["runLauncher"]
    assert launcher_values["type"] == "K8sRunLauncher"
    k8s = only_keys(
        launcher_values["config"]["k8sRunLauncher"],
        "runLauncher.config.k8sRunLauncher",
        {"imagePullPolicy", "loadInclusterConfig", "failPodOnRunFailure", "jobNamespace"},
    )
    monitoring = only_keys(
        daemon["runMonitoring"], "runMonitoring", {"enabled", "startTimeoutSeconds", "pollIntervalSeconds"}
    )
    assert pg["enabled"] is False and values["generatePostgresqlPasswordSecret"] is False
    assert daemon["enabled"] is True and coordinator["enabled"] is True
    assert coordinator["type"] == "QueuedRunCoordinator"
    return {
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
        "scheduler": {"module": "dagster._core.scheduler", "class": values["scheduler"]["type"], "config": {}},
        "storage": {
            "postgres": {
                "postgres_db": {
                    "username": pg["postgresqlUsername"],
                    "password": {"env": "DAGSTER_PG_PASSWORD"},
                    "hostname": pg["postgresqlHost"],
                    "db_name": pg["postgresqlDatabase"],
                    "port": pg["service"]["port"],
                    "params": pg.get("postgresqlParams", {}),
                    "scheme": pg["postgresqlScheme"],
                }
            }
        },
        "run_coordinator": {
            "module": "dagster._core.run_coordinator.queued_run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {
                "max_concurrent_runs": queue["maxConcurrentRuns"],
                "tag_concurrency_limits": queue["tagConcurrencyLimits"],
                "dequeue_interval_seconds": queue["dequeueIntervalSeconds"],
            },
        },
        "run_launcher": {
            "module": "dagster_k8s",
            "class": "K8sRunLauncher",
            "config": {
                "load_incluster_config": k8s["loadInclusterConfig"],
                "job_namespace": k8s.get("jobNamespace") or NAMESPACE,
                "image_pull_policy": k8s["imagePullPolicy"],
                "instance_config_map": f"{RELEASE}-instance",
                "postgres_password_secret": values["global"]["postgresqlSecretName"],
                "dagster_home": DAGSTER_HOME,
                "fail_pod_on_run_failure": k8s["failPodOnRunFailure"],
                "env_config_maps": [f"{RELEASE}-pipeline-env"],
            },
        },
        "run_monitoring": {
            "enabled": monitoring["enabled"],
            "start_timeout_seconds": monitoring["startTimeoutSeconds"],
            "poll_interval_seconds": monitoring["pollIntervalSeconds"],
        },
        "run_retries": {"enabled": daemon["runRetries"]["enabled"]},
    }


def user_deployment(values: Mapping[str, Any]) -> Mapping[str, Any]:
    """The one code location of the values."""
    section = values["dagster-user-deployments"]
    assert section["enabled"] is True and section["enableSubchart"] is True
    (deployment,) = section["deployments"]
    return deployment


def code_location_container_context(deployment: Mapping[str, Any]) -> K8sContainerContext:
    """What `includeConfigInLaunchedRuns` hands to run pods, processed by dagster-k8s's own schema.

    The chart passes the deployment's env, ConfigMaps, Secrets, volumes, mounts, resources and container
    security context as the code server's container context; `create_from_config` validates it.
    """
    return K8sContainerContext.create_from_config(
        {
            "k8s": {
                "image_pull_policy": deployment["image"]["pullPolicy"],
                "namespace": NAMESPACE,
                "env_config_maps": [f"{RELEASE}-{deployment['name']}-user-env"]
                + [source["name"] for source in deployment["envConfigMaps"]],
                "env_secrets": [source["name"] for source in deployment["envSecrets"]],
                "env": deployment["env"],
                "volumes": deployment["volumes"],
                "volume_mounts": deployment["volumeMounts"],
                "resources": deployment["resources"],
                "security_context": deployment["securityContext"],
            }
        }
    )


# The Kubernetes type of each Kubernetes-valued field of a user deployment (as the chart's schema types them).
USER_DEPLOYMENT_K8S_FIELDS: dict[str, tuple[type, bool]] = {
    "env": (kubernetes.client.V1EnvVar, True),
    "envConfigMaps": (kubernetes.client.V1ConfigMapEnvSource, True),
    "envSecrets": (kubernetes.client.V1SecretEnvSource, True),
    "volumes": (kubernetes.client.V1Volume, True),
    "volumeMounts": (kubernetes.client.V1VolumeMount, True),
    "resources": (kubernetes.client.V1ResourceRequirements, False),
    "podSecurityContext": (kubernetes.client.V1PodSecurityContext, False),
    "securityContext": (kubernetes.client.V1SecurityContext, False),
}


def check_user_deployment_k8s_fields(deployment: Mapping[str, Any]) -> None:
    """Every Kubernetes object of the user deployment parses as its Kubernetes API model."""
    for field, (model, is_list) in USER_DEPLOYMENT_K8S_FIELDS.items():
        for item in deployment[field] if is_list else [deployment[field]]:
            k8s_object(model, item)


def test_values_render_an_instance_config_that_passes_dagsters_own_validation(
    tmp_path: Path, instance_env: None
) -> None:
    processed = validated_instance(instance_config_from_values(load_yaml(VALUES_YAML)), tmp_path)
    assert processed["dagster_postgres.DagsterPostgresStorage"]["postgres_db"]["params"] == {"sslmode": "require"}
    assert launcher_config(processed)["load_incluster_config"] is True


def test_values_and_instance_config_queue_runs_with_the_same_limits(tmp_path: Path, instance_env: None) -> None:
    from_values = validated_instance(instance_config_from_values(load_yaml(VALUES_YAML)), tmp_path / "values")
    from_file = validated_instance(load_yaml(INSTANCE_YAML), tmp_path / "file")
    assert coordinator_config(from_values) == coordinator_config(from_file)
    for key in ("image_pull_policy", "fail_pod_on_run_failure", "load_incluster_config", "dagster_home"):
        assert launcher_config(from_values)[key] == launcher_config(from_file)[key], key


def test_values_keep_the_instance_database_external_with_its_password_in_a_secret() -> None:
    values = load_yaml(VALUES_YAML)
    assert values["postgresql"]["enabled"] is False
    assert "postgresqlPassword" not in values["postgresql"]
    assert (
        values["global"]["postgresqlSecretName"]
        == load_yaml(INSTANCE_YAML)["run_launcher"]["config"]["postgres_password_secret"]
    )


def test_user_deployment_kubernetes_objects_parse_as_kubernetes_api_models() -> None:
    check_user_deployment_k8s_fields(user_deployment(load_yaml(VALUES_YAML)))


def test_run_pod_launched_from_the_helm_values_reads_config_and_secrets(tmp_path: Path, instance_env: None) -> None:
    values = load_yaml(VALUES_YAML)
    launcher = launcher_config(validated_instance(instance_config_from_values(values), tmp_path))
    job = run_job(launcher, code_location_container_context(user_deployment(values)))
    assert_run_pod_reads_config_and_secrets(job)
    (container,) = job.spec.template.spec.containers
    assert container.resources.limits == user_deployment(values)["resources"]["limits"]


def test_same_volumes_and_environment_for_the_code_server_and_both_run_pod_configs() -> None:
    deployment = user_deployment(load_yaml(VALUES_YAML))
    launcher = load_yaml(INSTANCE_YAML)["run_launcher"]["config"]
    assert launcher["volumes"] == deployment["volumes"]
    assert launcher["volume_mounts"] == deployment["volumeMounts"]
    assert launcher["env_vars"] == [f"{e['name']}={e['value']}" for e in deployment["env"]]
    assert [s["name"] for s in deployment["envSecrets"]] == launcher["env_secrets"]
    assert [c["name"] for c in deployment["envConfigMaps"]] == launcher["env_config_maps"][1:]


@pytest.mark.parametrize(
    "path",
    [
        ("dagsterDaemon", "runCoordinator", "config", "queuedRunCoordinator", "maxConcurrentRuns"),
        ("dagsterDaemon", "runCoordinator", "config", "queuedRunCoordinator", "tagConcurrencyLimits"),
        (
            "dagsterDaemon",
            "runCoordinator",
            "config",
            "queuedRunCoordinator",
            "tagConcurrencyLimits",
            0,
            "value",
            "applyLimitPerUniqueValue",
        ),
        ("runLauncher", "config", "k8sRunLauncher", "loadInclusterConfig"),
        ("postgresql", "postgresqlHost"),
    ],
    ids=lambda path: ".".join(map(str, path)),
)
def test_values_with_a_misspelt_instance_key_are_rejected(
    tmp_path: Path, instance_env: None, path: tuple[str | int, ...]
) -> None:
    broken = misspell(load_yaml(VALUES_YAML), path)
    with pytest.raises((AssertionError, KeyError, DagsterInvalidConfigError)):
        validated_instance(instance_config_from_values(broken), tmp_path)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("volumes", 0, "configMap"), "volumes"),
        (("volumeMounts", 0, "mountPath"), "volumeMounts"),
        (("securityContext", "allowPrivilegeEscalation"), "securityContext"),
        (("podSecurityContext", "runAsNonRoot"), "podSecurityContext"),
        (("envSecrets", 0, "name"), "envSecrets"),
    ],
    ids=lambda value: ".".join(map(str, value)) if isinstance(value, tuple) else value,
)
def test_user_deployment_with_a_misspelt_kubernetes_key_is_rejected(path: tuple[str | int, ...], field: str) -> None:
    broken = misspell(dict(user_deployment(load_yaml(VALUES_YAML))), path)
    with pytest.raises(Exception, match="Unexpected keys"):
        check_user_deployment_k8s_fields(broken)


# --- the code location ---------------------------------------------------------------------------------------


def code_server_params(args: list[str]) -> dict[str, Any]:
    """`dagster code-server start ARGS` parsed by Dagster's own command (unknown options raise)."""
    with start_command.make_context("start", list(args)) as ctx:
        return dict(ctx.params)


def loaded_code_location(params: Mapping[str, Any]) -> dg.Definitions:
    """What a code server started with these parameters loads (module and attribute, via Dagster's loader)."""
    (module,) = params["module_name"] if isinstance(params["module_name"], tuple) else (params["module_name"],)
    target = ModuleCodePointer(module, params["attribute"], working_directory=None).load_target()
    assert isinstance(target, dg.Definitions), f"{module}:{params['attribute']} is a {type(target).__name__}"
    return target


@pytest.fixture
def demo_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Definitions load with the bundled demo configuration."""
    monkeypatch.delenv("INVOICE_PIPELINE_CONFIG", raising=False)


def test_code_location_named_in_the_values_loads_as_the_pipelines_definitions(demo_config: None) -> None:
    deployment = user_deployment(load_yaml(VALUES_YAML))
    # The chart runs `dagster code-server start -h 0.0.0.0 -p <port>` followed by codeServerArgs.
    params = code_server_params(["-h", "0.0.0.0", "-p", str(deployment["port"]), *deployment["codeServerArgs"]])
    assert params["port"] == 3030 == deployment["port"]
    defs = loaded_code_location(params)
    dg.Definitions.validate_loadable(defs)
    repository = defs.get_repository_def()
    assert repository.has_job("import_provider_invoice")
    assert repository.has_schedule_def("daily_provider_invoice_sync")
    assert repository.has_sensor_def("provider_invoice_sync_sensor")


def test_code_server_arguments_naming_a_missing_module_do_not_load() -> None:
    params = code_server_params(["-p", "3030", "-m", "invoice_pipeline.definitionz", "-a", "defs"])
    with pytest.raises(DagsterImportError, match="definitionz"):
        loaded_code_location(params)


def test_code_server_rejects_an_unknown_option() -> None:
    with pytest.raises(click.NoSuchOption):
        code_server_params(["-p", "3030", "--module", "invoice_pipeline.definitions"])


# --- the image -----------------------------------------------------------------------------------------------


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending = f"{pending} {stripped}" if pending else stripped
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        keyword, _, arguments = pending.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def instruction_args(arguments: str) -> list[str]:
    """The arguments of COPY/CMD: JSON exec form or shell words."""
    return json.loads(arguments) if arguments.startswith("[") else shlex.split(arguments)


def test_dockerfile_builds_on_python_312_slim_and_runs_as_the_values_non_root_user() -> None:
    instructions = dockerfile_instructions(DOCKERFILE)
    assert instructions[0] == ("FROM", "python:3.12-slim")
    (user,) = [arguments for keyword, arguments in instructions if keyword == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    pod = user_deployment(load_yaml(VALUES_YAML))["podSecurityContext"]
    assert int(uid) == pod["runAsUser"]
    assert instructions[-1][0] == "CMD"


def test_dockerfile_copies_files_that_exist_and_the_build_context_sends() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    kept = {line[1:].strip() for line in ignore if line.startswith("!")}
    copies = [instruction_args(arguments)[:-1] for keyword, arguments in dockerfile_instructions(DOCKERFILE)]
    sources = [
        source
        for (keyword, _), args in zip(dockerfile_instructions(DOCKERFILE), copies, strict=True)
        if keyword == "COPY"
        for source in args
    ]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
        assert source in kept, f"COPY {source}: Dockerfile.dockerignore does not send it"


def test_dockerfile_command_starts_the_code_server_on_the_real_definitions(demo_config: None) -> None:
    (cmd,) = [
        instruction_args(arguments) for keyword, arguments in dockerfile_instructions(DOCKERFILE) if keyword == "CMD"
    ]
    assert cmd[:3] == ["dagster", "code-server", "start"]
    params = code_server_params(cmd[3:])
    assert params["host"] == "0.0.0.0" and params["port"] == user_deployment(load_yaml(VALUES_YAML))["port"]
    assert isinstance(loaded_code_location(params), dg.Definitions)


def test_dockerfile_bakes_in_no_secret_and_the_data_dir_the_values_use() -> None:
    env_lines = " ".join(
        arguments for keyword, arguments in dockerfile_instructions(DOCKERFILE) if keyword in {"ENV", "ARG"}
    )
    names = set(re.findall(r"([A-Z_][A-Z0-9_]*)=", env_lines))
    assert not {name for name in names if re.search(r"PASSWORD|SECRET|TOKEN|WAREHOUSE_URL|CONFIG", name)}
    deployment_env = {e["name"]: e["value"] for e in user_deployment(load_yaml(VALUES_YAML))["env"]}
    assert f"INVOICE_PIPELINE_DATA_DIR={deployment_env['INVOICE_PIPELINE_DATA_DIR']}" in env_lines
    assert f"DAGSTER_HOME={DAGSTER_HOME}" in env_lines


def setup_requirements() -> list[Requirement]:
    """install_requires of setup.py, read without running it."""
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "install_requires":
            return [Requirement(ast.literal_eval(element)) for element in node.value.elts]  # type: ignore[attr-defined]
    raise AssertionError("setup.py has no install_requires")


def pinned(path: Path) -> dict[str, str]:
    """name -> version of a `name==version` constraints file."""
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_image_constraints_pin_every_setup_py_requirement_within_its_range() -> None:
    pins = pinned(DEPLOY / "constraints.txt")
    for requirement in setup_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, setup.py asks {requirement}"
        )


# --- the warehouse migration Job -----------------------------------------------------------------------------


def manifests(path: Path) -> Iterator[dict[str, Any]]:
    """The documents of a Kubernetes manifest file."""
    yield from (document for document in yaml.safe_load_all(path.read_text(encoding="utf-8")) if document)


def test_migration_job_parses_as_a_kubernetes_job_running_the_warehouse_upgrade() -> None:
    (manifest,) = manifests(MIGRATION_JOB_YAML)
    job = k8s_object(kubernetes.client.V1Job, manifest)
    assert (job.api_version, job.kind) == ("batch/v1", "Job")
    (container,) = job.spec.template.spec.containers
    assert container.command == ["invoice-pipeline", "warehouse", "upgrade"]
    assert container.image == IMAGE
    assert job.spec.template.spec.restart_policy == "Never"


def test_migration_job_command_is_the_packages_console_script() -> None:
    (manifest,) = manifests(MIGRATION_JOB_YAML)
    command = manifest["spec"]["template"]["spec"]["containers"][0]["command"]
    entry_points = ast.literal_eval(
        re.search(r"entry_points=(\{.*?\}),\n", (REPO / "setup.py").read_text(encoding="utf-8"), re.S).group(1)  # type: ignore[union-attr]
    )
    assert f"{command[0]}=invoice_pipeline.cli:main" in entry_points["console_scripts"]


def test_migration_job_command_names_an_existing_cli_command() -> None:
    from invoice_pipeline.cli import cli

    (manifest,) = manifests(MIGRATION_JOB_YAML)
    _, *words = manifest["spec"]["template"]["spec"]["containers"][0]["command"]
    with cli.make_context("invoice-pipeline", list(words)) as ctx:
        group = cli
        for word in words:
            command = group.get_command(ctx, word)
            assert command is not None, f"invoice-pipeline has no command {word!r}"
            group = command


def test_migration_job_sees_the_same_config_secrets_and_volumes_as_the_code_location() -> None:
    (manifest,) = manifests(MIGRATION_JOB_YAML)
    pod = manifest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    deployment = user_deployment(load_yaml(VALUES_YAML))
    assert container["env"] == deployment["env"]
    assert pod["volumes"] == deployment["volumes"]
    assert container["volumeMounts"] == deployment["volumeMounts"]
    assert container["envFrom"] == [{"configMapRef": c} for c in deployment["envConfigMaps"]] + [
        {"secretRef": s} for s in deployment["envSecrets"]
    ]
    assert pod["securityContext"] == deployment["podSecurityContext"]


def test_migration_job_with_a_misspelt_key_is_rejected() -> None:
    (manifest,) = manifests(MIGRATION_JOB_YAML)
    broken = misspell(manifest, ("spec", "template", "spec", "restartPolicy"))
    with pytest.raises(Exception, match="Unexpected keys"):
        k8s_object(kubernetes.client.V1Job, broken)
