"""The deploy/ files checked without a cluster: what `ray up` and the Kubernetes API server would check first.

Cluster launcher (deploy/aws.yaml, deploy/gcp.yaml). `ray up` starts with
`ray.autoscaler._private.commands._bootstrap_config`, which runs, in order:

1. ``prepare_config``: merges the file over the provider's defaults.yaml shipped in the Ray
   wheel (a shallow merge: a section we leave out, such as setup_commands, is Ray's default),
   prepends setup_commands to the head and worker setup commands, checks the docker section
   (a container name with an image) and fills every node type's min/max_workers;
2. the provider's node-provider class (boto3 / the Google API client), which fills in node
   resources from the cloud's instance types;
3. ``validate_config``: ray-schema.json with jsonschema (unknown keys are errors at the top
   level, in ``docker`` and in every node type; resources must be non-negative integers),
   ``head_node_type`` among ``available_node_types``, the sum of min_workers within max_workers;
4. the provider's ``bootstrap_config``: IAM roles, key pairs, subnets, security groups (AWS),
   project, service account and network (GCP), all calls to the cloud.

Here 1 and 3 run exactly as `ray up` runs them: ``validate_config(prepare_config(config))``.
Neither needs boto3, a Google library, credentials or the network (only files of the Ray
wheel and jsonschema, which Ray itself requires). Steps 2 and 4 need the cloud and are not
run; step 2 is not needed either, as every node type declares its resources.

KubeRay (deploy/kuberay/). The RayCluster and the RayJob are validated against the
operator's CRDs (tests/data/kuberay-crds/, gzipped copies of ../shared/kuberay-crds/) as its README says:
the ``v1`` openAPIV3Schema with jsonschema's Draft 7 validator, made strict like
``kubectl apply --validate=strict`` (``additionalProperties: false`` on every schema object
that lists ``properties`` and does not set ``x-kubernetes-preserve-unknown-fields``). Where
../shared is beside the clone, a test checks the copies are its files. The claim and the results pod are
core Kubernetes objects: checked with direct assertions.

Then everything the files name must exist and agree: the image names the README builds,
the Dockerfile's COPY sources and its install steps (the Makefile's torch pin, torch before
the project), every repository path, every `selfplay` / `python -m cluster` command line
(parsed by the real argument parser, its --config loaded by `load_config`), every --set
override, and the resources each node type offers against what configs/cluster.yaml asks for.
"""

from __future__ import annotations

import copy
import functools
import gzip
import json
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from cluster.cli import build_parser, cmd_config_show, cmd_train, main
from cluster.config import load_config

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
# KubeRay's CRDs, as ../shared/kuberay-crds/ holds them (commit feeaf72 of ray-project/kuberay,
# Apache-2.0), gzipped into the repository so that a clone validates without that folder.
CRDS = REPO / "tests" / "data" / "kuberay-crds"
SHARED_CRDS = REPO.parent / "shared" / "kuberay-crds"
LAUNCHERS = {"aws": DEPLOY / "aws.yaml", "gcp": DEPLOY / "gcp.yaml"}
KUBERAY = DEPLOY / "kuberay"
MANIFESTS = {"RayCluster": KUBERAY / "raycluster.yaml", "RayJob": KUBERAY / "rayjob.yaml"}
CRD_FILES = {"RayCluster": "ray.io_rayclusters.yaml", "RayJob": "ray.io_rayjobs.yaml"}
PVC = KUBERAY / "pvc.yaml"
RUNS_POD = KUBERAY / "runs-pod.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
README = DEPLOY / "README.md"
PRESET = REPO / "configs" / "cluster.yaml"
TEXT_FILES = [README, DOCKERFILE, PRESET, *LAUNCHERS.values(), *MANIFESTS.values(), PVC, RUNS_POD]
RUN_MOUNT = "/runs"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def preset():
    return load_config(PRESET)


# ----- images ----------------------------------------------------------------------------------


def built_images(text: str) -> dict[str, str]:
    """``{tag: variant}`` of every ``docker build ... --build-arg VARIANT=v ... -t tag .`` in ``text``."""
    builds = re.findall(r"docker build [^\n]*?VARIANT=(\w+)[^\n]*? -t (\S+) \.", text)
    return {tag: variant for variant, tag in builds}


def readme_images() -> dict[str, str]:
    return built_images(README.read_text())


def image_variant(image: str) -> str:
    """The README's variant of ``image``, a built tag or a pushed name ending in one (REGISTRY/tag)."""
    for tag, variant in readme_images().items():
        if image == tag or image.endswith("/" + tag):
            return variant
    raise AssertionError(f"image {image!r} is none of the images deploy/README.md builds: {sorted(readme_images())}")


def test_the_readme_builds_a_cpu_and_a_cuda_image_with_the_dockerfile():
    images = readme_images()
    assert sorted(images.values()) == ["cpu", "cuda"], images
    for tag, variant in images.items():
        assert tag.endswith(f":{variant}"), f"{tag} is built with VARIANT={variant}"
    assert re.search(r"docker build -f deploy/Dockerfile ", README.read_text())
    assert built_images(DOCKERFILE.read_text()) == images, "the Dockerfile's header builds other images"


def launcher_images(config: dict[str, Any]) -> dict[str, str]:
    """``{node type: image}`` as the launcher resolves it: node type docker.worker_image, else docker's."""
    docker = config["docker"]
    images = {}
    for name, node_type in config["available_node_types"].items():
        if name == config["head_node_type"]:
            images[name] = docker.get("head_image", docker["image"])
        else:
            images[name] = node_type.get("docker", {}).get("worker_image", docker.get("worker_image", docker["image"]))
    return images


@pytest.mark.parametrize("provider", sorted(LAUNCHERS))
def test_launcher_images_are_the_built_ones_cuda_where_there_are_gpus(provider):
    config = load(LAUNCHERS[provider])
    for name, image in launcher_images(config).items():
        has_gpu = config["available_node_types"][name]["resources"].get("GPU", 0) > 0
        assert image_variant(image) == ("cuda" if has_gpu else "cpu"), f"{provider} node type {name}: {image}"


def pod_specs(path: Path) -> dict[str, dict[str, Any]]:
    """``{group: pod spec}`` of a RayCluster, a RayJob's rayClusterSpec, or a Pod."""
    doc = load(path)
    if doc["kind"] == "Pod":
        return {doc["metadata"]["name"]: doc["spec"]}
    spec = doc["spec"]["rayClusterSpec"] if doc["kind"] == "RayJob" else doc["spec"]
    groups = {"head": spec["headGroupSpec"]["template"]["spec"]}
    groups.update({group["groupName"]: group["template"]["spec"] for group in spec["workerGroupSpecs"]})
    return groups


@pytest.mark.parametrize("path", [*MANIFESTS.values(), RUNS_POD], ids=lambda p: p.name)
def test_kubernetes_images_are_the_built_ones_cuda_where_there_are_gpus(path):
    for group, pod in pod_specs(path).items():
        for container in pod["containers"]:
            has_gpu = int(container.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0)) > 0
            variant = image_variant(container["image"])
            assert variant == ("cuda" if has_gpu else "cpu"), f"{path.name} {group}: {container['image']}"


# ----- the Dockerfile --------------------------------------------------------------------------


def dockerfile_lines() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def workdir() -> str:
    dirs = [line.split(None, 1)[1] for line in dockerfile_lines() if line.startswith("WORKDIR ")]
    assert len(dirs) == 1, dirs
    return dirs[0]


def test_dockerfile_picks_its_base_by_variant():
    lines = dockerfile_lines()
    assert "ARG VARIANT=cpu" in lines
    stages = {m.group(2): m.group(1) for line in lines if (m := re.fullmatch(r"FROM (\S+) AS (\S+)", line))}
    assert stages.keys() == {"base-cpu", "base-cuda"}, stages
    assert re.fullmatch(r"python:3\.11-slim", stages["base-cpu"]), stages
    cuda = stages["base-cuda"]
    if cuda.startswith("${"):  # the CUDA image is a build argument with a default
        default = next(line for line in lines if line.startswith(f"ARG {cuda[2:-1]}="))
        cuda = default.split("=", 1)[1]
    assert re.fullmatch(r"nvidia/cuda:[\w.-]*runtime[\w.-]*", cuda), cuda
    assert [line for line in lines if line.startswith("FROM ") and " AS " not in line] == ["FROM base-${VARIANT}"]


def test_dockerfile_names_no_host():
    # Build arguments carry index addresses; the file itself names none.
    assert "://" not in DOCKERFILE.read_text()
    assert "ARG TORCH_INDEX_URL=" in dockerfile_lines()


def test_dockerfile_copy_sources_exist_and_hold_the_project():
    copies = [line.split()[1:] for line in dockerfile_lines() if line.startswith("COPY ")]
    sources = [source for *sources, _ in copies for source in sources if not source.startswith("--")]
    assert sources, "the Dockerfile copies nothing"
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
    project = (REPO / "pyproject.toml").read_text()  # (tomllib is 3.11+; the project supports 3.10)
    readme = re.search(r'^readme = "([^"]+)"', project, re.M).group(1)
    packages = re.search(r"^include = \[([^\]]*)\]", project, re.M).group(1)
    needed = {"pyproject.toml", readme, "configs"} | {p.rstrip("*") for p in re.findall(r'"([^"]+)"', packages)}
    assert needed <= set(sources), f"the image misses {sorted(needed - set(sources))}"


def torch_pin(text: str) -> set[str]:
    return set(re.findall(r"pip install (?:--quiet )?torch==([\w.+]+)", text))


def test_dockerfile_installs_as_the_makefile_torch_first_then_the_project():
    makefile = torch_pin((REPO / "Makefile").read_text())
    assert len(makefile) == 1, makefile
    lines = dockerfile_lines()
    installs = [(i, cmd) for i, line in enumerate(lines) for cmd in re.findall(r"pip install[^;&|]*", line)]
    torch_installs = [(i, cmd) for i, cmd in installs if re.search(r"\btorch\b", cmd)]
    project_lines = [i for i, cmd in installs if re.search(r"pip install (?:-e )?\.(?:\s|$|\[)", cmd)]
    assert torch_installs and project_lines, "no torch or no project install"
    for _, cmd in torch_installs:  # every branch of the install (with and without an index) pins the same torch
        assert torch_pin(cmd) == makefile, f"{cmd!r}: not the Makefile's torch pin {makefile}"
    assert max(i for i, _ in torch_installs) < min(project_lines), "the project is installed before torch"
    assert torch_pin(README.read_text()) == makefile, "deploy/README.md describes another torch pin"


# ----- the cluster launcher --------------------------------------------------------------------


def prepared(provider: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """What `ray up` validates: the config merged with the provider's defaults and filled in."""
    from ray.autoscaler._private.util import prepare_config

    return prepare_config(copy.deepcopy(config or load(LAUNCHERS[provider])))


@pytest.mark.parametrize("provider", sorted(LAUNCHERS))
def test_launcher_config_passes_rays_validation(provider):
    from ray.autoscaler._private.util import validate_config

    raw = load(LAUNCHERS[provider])
    assert raw["provider"]["type"] == provider
    config = prepared(provider, raw)
    validate_config(config)
    # Our commands, not the defaults' (which install a Ray wheel of their own): nothing left to a shallow merge.
    assert config["setup_commands"] == raw["setup_commands"]
    assert config["head_start_ray_commands"] == raw["head_start_ray_commands"]
    assert config["worker_start_ray_commands"] == raw["worker_start_ray_commands"]


@pytest.mark.parametrize(
    "mistake",
    [
        lambda c: c.update(head_start_ray_command=c.pop("head_start_ray_commands")),
        lambda c: c["available_node_types"]["learner_gpu"].update(min_worker=0),
        lambda c: c["available_node_types"]["learner_gpu"]["resources"].update(GPU="1"),
        lambda c: c["docker"].update(imagee=c["docker"]["image"]),
        lambda c: c.update(head_node_type="nope"),
    ],
    ids=["misspelt key", "misspelt node type key", "string resource", "misspelt docker key", "unknown head type"],
)
@pytest.mark.parametrize("provider", sorted(LAUNCHERS))
def test_launcher_validation_rejects_a_mistake(provider, mistake):
    from ray.autoscaler._private.util import validate_config

    config = load(LAUNCHERS[provider])
    mistake(config)
    with pytest.raises((jsonschema.ValidationError, ValueError)):
        validate_config(prepared(provider, config))


def demand() -> dict[str, Any]:
    """What configs/cluster.yaml asks Ray for, per actor, and the CPUs of every CPU-only actor at most."""
    c = preset()
    low, high = c.selfplay.worker_range
    return {
        "learner": {"CPU": c.learner.num_cpus, "GPU": c.learner.num_gpus},
        "inference": {"CPU": c.inference.num_cpus, "GPU": c.inference.num_gpus},
        "servers": c.inference.servers,
        "selfplay": {"CPU": c.selfplay.num_cpus},
        "cpu_total": high * c.selfplay.num_cpus + c.replay.num_cpus + c.evaluation.num_cpus,
        "gpu_total": c.learner.num_gpus + c.inference.servers * c.inference.num_gpus,
        "min_workers": low,
    }


def fits(need: dict[str, float], offer: dict[str, float]) -> bool:
    return all(offer.get(key, 0) >= value for key, value in need.items())


def check_capacity(nodes: dict[str, tuple[dict[str, float], int]], where: str) -> None:
    """``nodes``: {name: (resources of one node, most nodes)}; the head included, once."""
    need = demand()
    gpu_nodes = {name: node for name, node in nodes.items() if node[0].get("GPU", 0) > 0}
    cpu_nodes = {name: node for name, node in nodes.items() if name not in gpu_nodes}
    assert gpu_nodes and cpu_nodes, f"{where}: expected CPU-only and GPU node types, got {sorted(nodes)}"
    assert need["learner"]["GPU"] >= 1, "configs/cluster.yaml: the learner should have a GPU"
    assert any(fits(need["learner"], res) for res, _ in gpu_nodes.values()), f"{where}: no node fits the learner"
    if need["servers"]:
        assert any(fits(need["inference"], res) for res, _ in gpu_nodes.values()), f"{where}: no node fits a server"
    assert any(fits(need["selfplay"], res) for res, _ in cpu_nodes.values()), f"{where}: no CPU node fits self-play"
    gpus = sum(res["GPU"] * most for res, most in gpu_nodes.values())
    assert gpus >= need["gpu_total"], f"{where}: {gpus} GPUs at most, the preset asks for {need['gpu_total']}"
    cpus = sum(res.get("CPU", 0) * most for res, most in cpu_nodes.values())
    assert cpus >= need["cpu_total"], (
        f"{where}: {cpus} CPUs on CPU nodes at most, the preset asks for {need['cpu_total']}"
    )


@pytest.mark.parametrize("provider", sorted(LAUNCHERS))
def test_launcher_node_types_hold_what_the_cluster_preset_asks_for(provider):
    config = load(LAUNCHERS[provider])
    types = config["available_node_types"]
    head = config["head_node_type"]
    nodes = {}
    for name, node_type in types.items():
        assert "min_workers" in node_type and "max_workers" in node_type, f"{provider} {name}: min/max_workers"
        assert node_type["min_workers"] <= node_type["max_workers"]
        nodes[name] = (node_type["resources"], 1 if name == head else node_type["max_workers"])
    assert types[head]["max_workers"] == 0, "the head type is the head only"
    assert config["max_workers"] == sum(t["max_workers"] for n, t in types.items() if n != head)
    check_capacity(nodes, f"deploy/{provider}.yaml")


@pytest.mark.parametrize("provider", sorted(LAUNCHERS))
def test_launcher_nodes_start_ray_with_token_auth_and_the_shared_run_directory(provider):
    config = load(LAUNCHERS[provider])
    head = " ".join(config["head_start_ray_commands"])
    worker = " ".join(config["worker_start_ray_commands"])
    assert "ray start --head" in head and "--autoscaling-config=~/ray_bootstrap_config.yaml" in head
    assert "ray start --address=$RAY_HEAD_IP:6379" in worker
    for commands in (head, worker):
        assert "RAY_AUTH_MODE=token" in commands
        wait = re.search(r"RAY_JOB_STOP_WAIT_TIME_S=(\d+)", commands)
        assert wait and int(wait.group(1)) >= 60, "ray job stop must leave time for the final checkpoint"
    assert config["file_mounts"].get("~/.ray/auth_token") == "~/.ray/auth_token"
    mounts = [option.split()[1] for option in config["docker"]["run_options"] if option.startswith("-v ")]
    host = [m.split(":")[0] for m in mounts if m.endswith(":" + RUN_MOUNT)]
    assert host, f"the container does not mount {RUN_MOUNT}"
    assert any("mount" in cmd and host[0] in cmd for cmd in config["initialization_commands"])


# ----- KubeRay ---------------------------------------------------------------------------------


def strict(schema: Any) -> None:
    """``additionalProperties: false`` wherever an object lists properties and keeps no unknown fields."""
    if not isinstance(schema, dict):
        return
    lists = "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields")
    if lists and "additionalProperties" not in schema:
        schema["additionalProperties"] = False
    for sub in schema.get("properties", {}).values():
        strict(sub)
    for key in ("items", "additionalProperties", "not"):
        strict(schema.get(key))
    for key in ("anyOf", "allOf", "oneOf"):
        for sub in schema.get(key, []):
            strict(sub)


@functools.cache
def _crd_schema(kind: str, strictly: bool) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRDs are large: parse each once
    crd = yaml.load(gzip.decompress((CRDS / f"{CRD_FILES[kind]}.gz").read_bytes()), Loader=loader)
    assert crd["spec"]["names"]["kind"] == kind
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
    if strictly:
        strict(schema)
    return schema


def crd_schema(kind: str, strictly: bool = True) -> dict[str, Any]:
    """The CRD's v1 schema for ``kind``, strict by default."""
    return _crd_schema(kind, strictly)


@pytest.mark.skipif(not SHARED_CRDS.is_dir(), reason="no ../shared/kuberay-crds beside this clone to compare with")
def test_the_crds_kept_here_are_those_of_the_shared_folder():
    for name in CRD_FILES.values():
        assert gzip.decompress((CRDS / f"{name}.gz").read_bytes()) == (SHARED_CRDS / name).read_bytes(), name


def errors(schema: dict[str, Any], doc: Any) -> list[str]:
    found = jsonschema.Draft7Validator(schema).iter_errors(doc)
    return [f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in found]


@pytest.mark.parametrize("kind", sorted(MANIFESTS))
def test_kuberay_manifest_validates_strictly_against_the_crd(kind):
    doc = load(MANIFESTS[kind])
    assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] == kind
    assert errors(crd_schema(kind), doc) == []


def misspell(doc: dict[str, Any], path: str, new: str) -> None:
    """Rename the key at dotted ``path`` (numbers index lists) to ``new``."""
    *parents, last = path.split(".")
    node: Any = doc
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    node[new] = node.pop(last)


CLUSTER = {"RayCluster": "spec", "RayJob": "spec.rayClusterSpec"}
MISSPELLINGS = [
    ("RayCluster", "spec.enableInTreeAutoscaling", "enableInTreeAutoScaling"),
    ("RayCluster", "spec.headGroupSpec.rayStartParams", "rayStartParam"),
    ("RayCluster", "spec.workerGroupSpecs.1.template.spec.containers.0.resources", "resource"),
    ("RayCluster", "spec.headGroupSpec.template.spec.volumes.0.persistentVolumeClaim.claimName", "claimname"),
    ("RayJob", "spec.entrypoint", "entryPoint"),
    ("RayJob", "spec.rayClusterSpec.workerGroupSpecs.0.maxReplicas", "maxReplica"),
]


@pytest.mark.parametrize(("kind", "path", "new"), MISSPELLINGS, ids=[m[2] for m in MISSPELLINGS])
def test_strict_validation_rejects_a_misspelt_field_that_plain_validation_accepts(kind, path, new):
    doc = load(MANIFESTS[kind])
    misspell(doc, path, new)
    unexpected = f"'{new}' was unexpected"
    found = errors(crd_schema(kind), doc)
    assert any(unexpected in message for message in found), found
    # Without strictness the unknown field passes (a required field's absence may still be reported).
    assert not any(unexpected in message for message in errors(crd_schema(kind, strictly=False), doc))


@pytest.mark.parametrize("kind", sorted(MANIFESTS))
def test_strict_validation_rejects_a_wrong_type(kind):
    doc = load(MANIFESTS[kind])
    spec = doc["spec"]["rayClusterSpec"] if kind == "RayJob" else doc["spec"]
    spec["workerGroupSpecs"][0]["replicas"] = "1"
    assert any("replicas" in message for message in errors(crd_schema(kind), doc))


def test_rayjob_runs_on_the_cluster_of_raycluster_yaml():
    assert load(MANIFESTS["RayJob"])["spec"]["rayClusterSpec"] == load(MANIFESTS["RayCluster"])["spec"]


@pytest.mark.parametrize("kind", sorted(MANIFESTS))
def test_kuberay_cluster_autoscales_and_holds_what_the_cluster_preset_asks_for(kind):
    doc = load(MANIFESTS[kind])
    spec = doc["spec"]["rayClusterSpec"] if kind == "RayJob" else doc["spec"]
    assert spec["enableInTreeAutoscaling"] is True
    assert spec.get("authOptions", {}).get("mode") == "token", "token authentication"
    head = spec["headGroupSpec"]
    nodes = {"head": ({"CPU": float(head["rayStartParams"]["num-cpus"])}, 1)}
    for group in spec["workerGroupSpecs"]:
        assert group["minReplicas"] <= group.get("replicas", group["minReplicas"]) <= group["maxReplicas"]
        (container,) = group["template"]["spec"]["containers"]
        limits = container["resources"]["limits"]
        resources = {"CPU": cpu_quantity(limits["cpu"]), "GPU": int(limits.get("nvidia.com/gpu", 0))}
        nodes[group["groupName"]] = (resources, group["maxReplicas"])
    check_capacity(nodes, MANIFESTS[kind].name)


def cpu_quantity(value: Any) -> float:
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def test_rayjob_entrypoint_trains_the_cluster_preset_into_the_claim():
    job = load(MANIFESTS["RayJob"])["spec"]
    argv = shlex.split(job["entrypoint"])
    assert argv[:3] == ["python", "-m", "cluster"] and (REPO / "cluster" / "__main__.py").is_file()
    args = build_parser().parse_args(argv[3:])
    assert args.handler is cmd_train and args.config == "configs/cluster.yaml"
    config = load_config(REPO / args.config, args.set)  # run from the image's working directory, the checkout
    assert config.run.storage == "shared"
    run_dir = Path(args.run_dir)
    assert run_dir.is_absolute() and run_dir.parent == Path(RUN_MOUNT), run_dir
    assert job["backoffLimit"] == 0 and job["shutdownAfterJobFinishes"] is True


@pytest.mark.parametrize("path", [*MANIFESTS.values(), RUNS_POD], ids=lambda p: p.name)
def test_every_pod_mounts_the_claim_at_runs_in_the_image_checkout(path):
    claim = load(PVC)["metadata"]["name"]
    for group, pod in pod_specs(path).items():
        volumes = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in pod["volumes"]}
        for container in pod["containers"]:
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert volumes.get(mounts.get(RUN_MOUNT)) == claim, f"{path.name} {group}: {RUN_MOUNT} is not {claim}"
            assert container.get("workingDir") == workdir(), f"{path.name} {group}: workingDir"


def test_pvc_is_a_shared_persistent_volume_claim():
    pvc = load(PVC)
    assert pvc["apiVersion"] == "v1" and pvc["kind"] == "PersistentVolumeClaim"
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", pvc["metadata"]["name"])
    spec = pvc["spec"]
    assert set(spec) <= {"accessModes", "storageClassName", "resources", "volumeMode", "selector", "volumeName"}
    assert spec["accessModes"] == ["ReadWriteMany"], "pods on several nodes write the run directory"
    assert isinstance(spec["storageClassName"], str) and spec["storageClassName"]
    assert list(spec["resources"]) == ["requests"] and list(spec["resources"]["requests"]) == ["storage"]
    assert re.fullmatch(r"\d+(Ki|Mi|Gi|Ti|Pi)", spec["resources"]["requests"]["storage"])


def test_runs_pod_waits_on_the_claim_with_the_cli():
    pod = load(RUNS_POD)
    assert pod["apiVersion"] == "v1" and pod["kind"] == "Pod"
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["sleep", "infinity"]
    assert f"kubectl exec {pod['metadata']['name']} -- selfplay report" in README.read_text()


# ----- every name the deploy files use ---------------------------------------------------------

PATH_PATTERN = re.compile(r"(?<![\w./-])((?:deploy|configs|tests|actors|cluster|common|learner)/[\w./-]*\w)")


def test_every_repository_path_the_deploy_files_name_exists():
    named = {(path.name, m) for path in TEXT_FILES for m in PATH_PATTERN.findall(path.read_text())}
    assert len(named) > 10, named
    missing = sorted((where, name) for where, name in named if not (REPO / name).exists())
    assert not missing, missing


COMMAND = re.compile(r"(?:python -m cluster|(?<![\w/-])(?:\.venv/bin/)?selfplay) (train|evaluate|report|config)")


def command_lines() -> list[tuple[str, list[str]]]:
    """Every `selfplay <cmd>` or `python -m cluster <cmd>` command line in the deploy files, as argv."""
    found = []
    for path in TEXT_FILES:
        text = path.read_text()
        if path.suffix == ".md":  # code blocks, and inline code with options: not prose naming a command
            text = "\n".join(re.findall(r"```\n(.*?)```", text, re.S) + re.findall(r"`([^`\n]* --[^`\n]*)`", text))
        text = re.sub(r"\s*\\\n\s*", " ", text)  # shell continuations
        text = re.sub(r"\n[ ]{4,}(?=--)", " ", text)  # folded YAML lines
        for m in COMMAND.finditer(text):
            rest = re.split(r"[`'\n]|  #| > ", text[m.start(1) :])[0]
            found.append((path.name, shlex.split(rest)))
    return found


def test_every_command_line_parses_and_its_config_loads(capsys):
    lines = command_lines()
    assert {where for where, _ in lines} >= {"README.md", "aws.yaml", "gcp.yaml", "rayjob.yaml"}, lines
    for where, argv in lines:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"{where}: selfplay {' '.join(argv)}: {capsys.readouterr().err}")
        if getattr(args, "config", None):
            assert (REPO / args.config).is_file(), f"{where}: {args.config}"
            load_config(REPO / args.config, args.set)


@pytest.mark.parametrize("provider", sorted(LAUNCHERS))
def test_launcher_setup_command_runs_in_the_image_checkout(provider, capsys):
    (command,) = load(LAUNCHERS[provider])["setup_commands"]
    cd, _, rest = command.partition(" && ")
    assert cd == f"cd {workdir()}", command
    argv = shlex.split(rest.split(" > ")[0])
    assert argv[:3] == ["python", "-m", "cluster"]
    args = build_parser().parse_args(argv[3:])
    assert args.handler is cmd_config_show
    assert main([*argv[3:5], "--config", str(REPO / args.config)]) == 0
    assert "storage: shared" in capsys.readouterr().out


def test_every_override_the_deploy_files_suggest_loads_on_the_cluster_preset():
    overrides = {m for path in TEXT_FILES for m in re.findall(r"--set ([\w.]+=[\w.]+)", path.read_text())}
    assert {"run.storage=local", "run.storage=shared", "learner.num_gpus=0.5"} <= overrides, overrides
    for override in sorted(overrides):
        load_config(PRESET, [override])


def test_cluster_preset_is_local_yaml_on_a_cluster():
    local, cluster = load(REPO / "configs" / "local.yaml"), load(PRESET)
    for section in ("tasks", "model", "search"):
        assert cluster[section] == local[section], f"configs/cluster.yaml: {section} differs from configs/local.yaml"
    c = preset()
    assert c.learner.num_gpus >= 1 and c.learner.device == "auto"
    assert c.learner.batch_size > load_config(REPO / "configs" / "local.yaml").learner.batch_size
    assert c.inference.servers >= 1 and c.inference.num_gpus > 0
    assert c.selfplay.worker_range == (2, 32)
    assert c.evaluation.gating == "threshold"
    assert c.run.storage == "shared"


def test_grafana_dashboard_shows_only_gauges_the_run_exports():
    """deploy/grafana-selfplay.json: valid JSON, and every panel's query names a gauge `PrometheusGauges` sets
    (a top-level interval field, or a per-task / per-actor one), filtered by the run variable."""
    import re

    from cluster.monitor import FIELDS

    dashboard = json.loads((REPO / "deploy" / "grafana-selfplay.json").read_text())
    top = {name for name, _, _ in FIELDS if "." not in name}
    nested = {"task_success", "task_win", "gate_solve_rate", "actor_cpu_percent", "actor_rss_mib", "actor_restarts"}
    exported = {"ray_selfplay_" + name for name in top | nested}
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(dashboard["panels"]) >= 10
    for expr in exprs:
        name = re.match(r"(\w+)\{", expr).group(1)
        assert name in exported, expr
        assert 'run=~"$run"' in expr
