"""The hub image and the Zero to JupyterHub values agree with the checkout (static checks).

Nothing here builds an image or talks to a cluster (neither is possible on the machine these
run on): they hold the deployment files to the one source of each fact. The Debian packages
come from binder/apt.txt, which scripts/setup.sh also installs; the pip requirements from
pyproject.toml, through ``scripts/setup.sh --image`` that the Dockerfile and binder/postBuild
both run; the exchange root and course id are the same in every file that names them; the
keys of deploy/z2jh/values.yaml are keys the chart's schema defines (SCHEMA below); the
per-student memory is compared with the measured one (spfteach/data/hub-load.json) once it exists.
One test (marked slow) runs ``scripts/setup.sh --image`` for real into a scratch venv.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from traitlets.config.loader import PyFileConfigLoader

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pip's vendored copy of the same parser
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
SETUP = ROOT / "scripts" / "setup.sh"
APT_TXT = ROOT / "binder" / "apt.txt"
POSTBUILD = ROOT / "binder" / "postBuild"
DOCKERFILE = ROOT / "Dockerfile"
POSTSTART = ROOT / "deploy" / "poststart.sh"
IMAGE_NBGRADER = ROOT / "deploy" / "nbgrader_config.py"
COURSE_NBGRADER = ROOT / "notebooks" / "course" / "nbgrader_config.py"
VALUES = ROOT / "deploy" / "z2jh" / "values.yaml"
PVC = ROOT / "deploy" / "z2jh" / "exchange-pvc.yaml"
HUB_LOAD = ROOT / "spfteach" / "data" / "hub-load.json"

IMAGE_REPO = "/srv/spfteach"  # where the image keeps the checkout (outside $HOME)
EXCHANGE_ROOT = "/srv/nbgrader/exchange"  # make hub's, on one machine
COURSE_ID = "spfteach"

# What scripts/setup.sh installs for a checkout only, and why the image does without.
CHECKOUT_ONLY = {
    "chromium": "the browser tests' (tests/browser/)",
    "python3-venv": "the checkout's .venv; the image installs into its own Python",
    "python3": "a root checkout's jail interpreter; the image's grader runs as jovyan",
    "npm": "make hub's configurable-http-proxy; on Kubernetes the proxy has its own pod",
    "nodejs": "make hub's configurable-http-proxy; on Kubernetes the proxy has its own pod",
}

# The keys of the chart's values this repository may set, as the chart's schema defines them:
# jupyterhub/values.schema.yaml of jupyterhub/zero-to-jupyterhub-k8s at commit
# 02dd73df01bdbb6d602fed21b0be12565ab38080, read by hand (it is not in this repository).
# A dict lists a section's properties (additionalProperties: false there); OPEN marks a
# value the schema leaves free (additionalProperties: true, or a k8s passthrough).
OPEN = None
SCHEMA: dict = {
    "singleuser": {
        "image": {"name": {}, "tag": {}, "pullPolicy": {}, "pullSecrets": {}},
        "memory": {"limit": {}, "guarantee": {}},
        "cpu": {"limit": {}, "guarantee": {}},
        "lifecycleHooks": {"postStart": OPEN, "preStop": OPEN},
        "extraEnv": OPEN,
        "extraFiles": OPEN,
        "defaultUrl": {},
        "cmd": {},
        "uid": {},
        "fsGid": {},
        "profileList": OPEN,
        "extraPodConfig": OPEN,
        "allowPrivilegeEscalation": {},
        "startTimeout": {},
        "storage": {
            "type": {}, "capacity": {}, "homeMountPath": {},
            "extraVolumes": OPEN, "extraVolumeMounts": OPEN,
            "dynamic": {"pvcNameTemplate": {}, "storageAccessModes": {}, "storageClass": {},
                        "volumeNameTemplate": {}},
            "static": {"pvcName": {}, "subPath": {}},
            "extraLabels": OPEN,
        },
    },
    "hub": {
        "config": OPEN,
        "extraConfig": OPEN,
        "loadRoles": OPEN,
        "services": OPEN,
        "extraEnv": OPEN,
        "extraFiles": OPEN,
        "allowNamedServers": {},
        "concurrentSpawnLimit": {},
        "activeServerLimit": {},
    },
    "cull": {"enabled": {}, "users": {}, "adminUsers": {}, "removeNamedServers": {},
             "timeout": {}, "every": {}, "concurrency": {}, "maxAge": {}},
    "custom": OPEN,
    "prePuller": {"hook": {"enabled": {}}, "continuous": {"enabled": {}}},
}


# ---------------------------------------------------------------------------- helpers


def apt_txt_packages(text: str) -> list[str]:
    """binder/apt.txt's packages, read as repo2docker reads it (a '#' starts a comment)."""
    return [p for line in text.splitlines() if (p := line.partition("#")[0].strip())]


def setup_apt_packages(text: str) -> set[str]:
    """The packages scripts/setup.sh names to ``apt_install`` outside ``--image`` mode."""
    names: set[str] = set()
    for line in text.splitlines():
        line = line.partition(" #")[0]
        for m in re.finditer(r"\bapt_install\s+([a-z0-9][a-z0-9.+ -]*)", line):
            names.update(m.group(1).split())
    return names


def script_lines(text: str) -> list[str]:
    """A shell script's or Dockerfile's lines without comments and blank lines."""
    return [s for line in text.splitlines() if (s := line.strip()) and not s.startswith("#")]


def walk_keys(values: object, schema: object, path: str = "") -> list[str]:
    """Every key path of ``values`` the (partial) schema does not define."""
    if schema is OPEN or not isinstance(values, dict):
        return []
    if not schema:  # a scalar property: it has no sub-keys
        return [f"{path}: the schema's property takes no sub-keys"]
    bad: list[str] = []
    for key, sub in values.items():
        where = f"{path}.{key}" if path else key
        if key not in schema:
            bad.append(where)
        else:
            bad += walk_keys(sub, schema[key], where)
    return bad


def mib(spec: object) -> float:
    """A KubeSpawner byte spec (int bytes, or K/M/G/T suffixed, 1024-based) in MiB."""
    if isinstance(spec, (int, float)):
        return spec / 2**20
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT])", str(spec))
    if not m:
        raise ValueError(f"not a KubeSpawner memory size: {spec!r}")
    return float(m.group(1)) * 1024 ** "KMGT".index(m.group(2)) / 1024


def memory_problems(values_text: str, hub_load: dict | None) -> list[str]:
    """What is wrong with the per-student memory, given the measurement (None: not yet)."""
    values = yaml.safe_load(values_text)
    mem = values["singleuser"]["memory"]
    guarantee, limit = mib(mem["guarantee"]), mib(mem["limit"])
    problems = [] if limit >= guarantee else [f"limit {limit} MiB < guarantee {guarantee} MiB"]
    placeholder = "PLACEHOLDER" in values_text
    if hub_load is None:
        if not placeholder:
            problems.append("no spfteach/data/hub-load.json, yet the figure is not marked "
                            "PLACEHOLDER")
        return problems
    try:
        # the record is keyed by fleet: the students through the hub, as on a hub
        measured = float(hub_load["hub"]["sizing_24gib"]["memory_per_user_mib"])
    except (KeyError, TypeError, ValueError):
        return problems + ["spfteach/data/hub-load.json has no "
                           "hub.sizing_24gib.memory_per_user_mib"]
    if guarantee < measured:
        problems.append(f"guarantee {guarantee} MiB < measured {measured} MiB per student")
    if guarantee > 1.5 * measured:
        problems.append(f"guarantee {guarantee} MiB is over 1.5 x the measured {measured} MiB: "
                        "set it to the measured figure")
    if placeholder:
        problems.append("the measurement exists: replace the PLACEHOLDER figure and note")
    return problems


def load_config(path: Path):
    return PyFileConfigLoader(path.name, path=str(path.parent)).load_config()


def named_in_repo(pattern: str) -> dict[str, set[str]]:
    """Each value a regex's first group takes in the repository's scripts and configs."""
    found: dict[str, set[str]] = {}
    for sub in ("scripts", "deploy", "notebooks", "binder", "spfteach"):
        for p in (ROOT / sub).rglob("*"):
            if p.suffix in (".py", ".sh", ".yaml", ".yml") and p.is_file():
                for m in re.finditer(pattern, p.read_text(encoding="utf-8", errors="replace")):
                    found.setdefault(m.group(1), set()).add(str(p.relative_to(ROOT)))
    return found


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load(VALUES.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------- the image


def test_apt_txt_is_setup_sh_less_the_checkout_only_packages():
    image = apt_txt_packages(APT_TXT.read_text(encoding="utf-8"))
    checkout = setup_apt_packages(SETUP.read_text(encoding="utf-8"))
    assert image == sorted(set(image)), "binder/apt.txt: keep it sorted, each package once"
    assert {"graphviz", "bubblewrap"} <= set(image)
    missing = set(image) - checkout
    assert not missing, f"binder/apt.txt has {missing}, which make setup does not install"
    unexplained = checkout - set(image) - set(CHECKOUT_ONLY)
    assert not unexplained, (f"setup.sh installs {unexplained}: add to binder/apt.txt if the "
                             "image needs them, else to CHECKOUT_ONLY with the reason")
    assert not set(image) & set(CHECKOUT_ONLY), "a checkout-only package is in the image"
    for p in image:  # repo2docker refuses anything else (its apt.txt check)
        assert re.fullmatch(r"[a-z0-9.+-]+", p), p


def test_the_apt_list_parsers_read_what_they_should():
    assert apt_txt_packages("# c\ngraphviz  # dot\n\nbubblewrap\n") == ["graphviz", "bubblewrap"]
    text = ('apt_install graphviz\n  apt_install "${missing[@]}"\n    apt_install python3-venv\n'
            "command -v npm >/dev/null 2>&1 || apt_install npm  # the proxy\napt_install() {\n")
    assert setup_apt_packages(text) == {"graphviz", "python3-venv", "npm"}


def test_postbuild_and_dockerfile_run_the_setup_script_and_nothing_else():
    assert os.access(POSTBUILD, os.X_OK), "binder/postBuild must be executable"
    assert script_lines(POSTBUILD.read_text(encoding="utf-8")) == [
        "set -euo pipefail", "exec bash scripts/setup.sh --image"]
    docker = script_lines(DOCKERFILE.read_text(encoding="utf-8"))
    runs = " ".join(line for line in docker if line.startswith("RUN") or line.startswith("&&"))
    assert f"bash {IMAGE_REPO}/scripts/setup.sh --image" in runs
    for other in ("apt-get", "pip install", "conda", "mamba"):  # one source: the script
        assert other not in runs, f"the Dockerfile installs with {other} itself"
    assert f"COPY . {IMAGE_REPO}" in docker


def test_setup_script_image_mode_installs_the_singleuser_extra_not_the_tests():
    text = SETUP.read_text(encoding="utf-8")
    body = text[text.index("image_setup() {"):text.index('case "${1:-}" in')]
    assert '-e "${ROOT}[singleuser]"' in body and "[test]" not in body
    assert "binder/apt.txt" in body and "deploy/nbgrader_config.py" in body
    with (ROOT / "pyproject.toml").open("rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    assert any(r.startswith("jupyterhub") for r in extras["singleuser"])


def test_scripts_parse():
    for script in (SETUP, POSTBUILD, POSTSTART):
        r = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert r.returncode == 0, f"{script.name}: {r.stderr}"


def test_setup_script_refuses_an_unknown_option():
    r = subprocess.run(["bash", str(SETUP), "--imag"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown option --imag" in r.stderr and not r.stdout


def test_image_mode_refuses_a_checkout_under_home(tmp_path):
    # repo2docker's default puts the repository in $HOME, which z2jh's home volume hides.
    r = subprocess.run(["bash", str(SETUP), "--image"], capture_output=True, text=True,
                       env={**os.environ, "HOME": str(ROOT.parent),
                            "PYTHON": "/nonexistent/python3"})  # never a real install
    assert r.returncode == 2, r.stdout + r.stderr
    assert "--target-repo-dir /srv/spfteach" in r.stderr and "pip install" not in r.stdout


def test_repo2docker_and_docker_see_the_same_python_and_leave_out_the_course_source():
    # With binder/ present repo2docker reads only binder/ (root environment.yml, pyproject.toml
    # and the Dockerfile are then ignored): no other environment file may appear there.
    assert sorted(p.name for p in (ROOT / "binder").iterdir()) == [
        ".dockerignore", "apt.txt", "postBuild", "runtime.txt"]
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.11"
    assert re.search(r"^FROM python:3\.11-slim-bookworm$", DOCKERFILE.read_text(), re.M)
    docker, r2d = (script_lines(p.read_text()) for p in
                   (ROOT / ".dockerignore", ROOT / "binder" / ".dockerignore"))
    assert docker == r2d, ".dockerignore and binder/.dockerignore differ"
    assert "notebooks/course/source" in docker, "the solutions would ship to every student"


# ---------------------------------------------------------------------------- the exchange


def test_the_image_nbgrader_config_as_nbgrader_reads_it():
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default.collect import ExchangeCollect

    cfg = load_config(IMAGE_NBGRADER)
    coursedir = CourseDirectory(config=cfg)
    collect = ExchangeCollect(coursedir=coursedir, authenticator=None, config=cfg)
    assert collect.root == EXCHANGE_ROOT
    assert coursedir.course_id == COURSE_ID
    assert collect.check_owner is False  # every pod is uid 1000: the owner says nothing


def test_exchange_root_and_course_id_are_the_same_everywhere(values):
    mounts = values["singleuser"]["storage"]["extraVolumeMounts"]
    volumes = values["singleuser"]["storage"]["extraVolumes"]
    assert [m["mountPath"] for m in mounts] == [EXCHANGE_ROOT]
    claim = yaml.safe_load(PVC.read_text())
    assert volumes == [{"name": mounts[0]["name"],
                        "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]}}]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    roots = named_in_repo(r"""Exchange\.root\s*=\s*["']([^"']+)["']""")
    assert set(roots) == {EXCHANGE_ROOT}, f"exchange roots differ: {roots}"
    ids = named_in_repo(r"""course_id\s*=\s*["']([^"']+)["']""")
    assert set(ids) == {COURSE_ID}, f"course ids differ: {ids}"
    assert str(COURSE_NBGRADER.relative_to(ROOT)) in ids[COURSE_ID]


def test_poststart_copies_the_workbook_and_points_the_grader_at_its_course(tmp_path):
    home = tmp_path / "home"
    (home / "course").mkdir(parents=True)
    shutil.copy(COURSE_NBGRADER, home / "course" / "nbgrader_config.py")
    env = {"PATH": os.environ["PATH"], "HOME": str(home),
           "JUPYTERHUB_USER": "grader-spfteach", "SPFTEACH_GRADER": "grader-spfteach"}
    for _ in range(2):  # the second start changes nothing
        subprocess.run(["bash", str(POSTSTART)], env=env, check=True)
    copied = sorted(p.name for p in (home / "spfteach").iterdir())
    assert copied == sorted(p.name for p in (ROOT / "notebooks").iterdir() if p.name != "course")
    cfg = load_config(home / ".jupyter" / "nbgrader_config.py")
    assert cfg.CourseDirectory.root == str(home / "course")
    assert cfg.CourseDirectory.course_id == COURSE_ID
    student = tmp_path / "student"
    student.mkdir()
    subprocess.run(["bash", str(POSTSTART)], check=True,
                   env={**env, "HOME": str(student), "JUPYTERHUB_USER": "alice"})
    assert not (student / ".jupyter").exists() and (student / "spfteach").is_dir()


# ---------------------------------------------------------------------------- the values


def test_values_keys_are_in_the_chart_schema(values):
    assert walk_keys(values, SCHEMA) == []


def test_the_key_walk_catches_a_misspelled_or_misplaced_key():
    assert walk_keys({"singleuser": {"memory": {"guarentee": "1G"}}}, SCHEMA) == [
        "singleuser.memory.guarentee"]
    assert walk_keys({"singleuser": {"extraVolumes": []}}, SCHEMA) == ["singleuser.extraVolumes"]
    assert walk_keys({"cull": {"timeout": {"x": 1}}}, SCHEMA) == [
        "cull.timeout: the schema's property takes no sub-keys"]
    assert walk_keys({"hub": {"config": {"Anything": {"goes": 1}}}}, SCHEMA) == []


def test_image_grader_and_hook_agree_with_the_repository(values):
    su = values["singleuser"]
    with (ROOT / "pyproject.toml").open("rb") as f:
        version = tomllib.load(f)["project"]["version"]
    assert su["image"]["tag"] == version
    assert f"spfteach:{version}" in DOCKERFILE.read_text()
    assert su["lifecycleHooks"]["postStart"]["exec"]["command"] == [
        "bash", f"{IMAGE_REPO}/{POSTSTART.relative_to(ROOT)}"]
    assert su["uid"] == 1000 and "NB_UID=1000" in DOCKERFILE.read_text()
    grader = values["custom"]["spfteach"]["grader"]
    assert su["extraEnv"]["SPFTEACH_GRADER"] == grader
    scopes = values["hub"]["loadRoles"]["formgrade-spfteach"]["scopes"]
    assert sorted(scopes) == sorted([f"access:servers!user={grader}", f"servers!user={grader}"])
    assert values["hub"]["loadRoles"]["spfteach-grader-account"]["users"] == [grader]
    assert 'get_config("custom.spfteach.grader")' in values["hub"]["extraConfig"][
        "spfteach-grader.py"]
    start = su["defaultUrl"].removeprefix("/lab/tree/spfteach/")
    assert (ROOT / "notebooks" / start).is_file(), su["defaultUrl"]
    assert values["cull"]["enabled"] is True and values["cull"]["users"] is False


class _User:
    def __init__(self, name: str) -> None:
        self.name = name


class _Spawner:
    """What the grader hook touches of a KubeSpawner: the user and the pod's settings."""

    def __init__(self, name: str, environment: dict) -> None:
        self.user = _User(name)
        self.environment = environment
        self.mem_guarantee = self.mem_limit = self.cpu_guarantee = self.cpu_limit = None


def test_the_grader_hook_gives_the_grader_its_pod_and_leaves_students_alone(values):
    from traitlets.config import Config

    def get_config(key: str) -> object:  # z2jh's: a dotted path into the values
        node: object = values
        for part in key.split("."):
            node = node[part]  # type: ignore[index]
        return node

    c = Config()
    exec(compile(values["hub"]["extraConfig"]["spfteach-grader.py"], "hook", "exec"),
         {"c": c, "get_config": get_config})
    hook = c.KubeSpawner.pre_spawn_hook
    env = dict(values["singleuser"]["extraEnv"])
    grader = _Spawner(values["custom"]["spfteach"]["grader"], env)
    student = _Spawner("alice", env)
    hook(grader)
    hook(student)
    assert "JUPYTER_CONFIG_PATH" not in grader.environment
    assert student.environment == env == values["singleuser"]["extraEnv"]  # not mutated
    assert mib(grader.mem_guarantee) >= 2 * mib(values["singleuser"]["memory"]["guarantee"])
    assert mib(grader.mem_limit) >= mib(grader.mem_guarantee)
    assert student.mem_guarantee is None and student.cpu_limit is None


_SERVER_EXTENSIONS = """
from jupyter_server.serverapp import ServerApp
app = ServerApp()
app.initialize(argv=["--port=0", "--ServerApp.root_dir=/tmp"], new_httpserver=False)
print(app.jpserver_extensions.get("nbgrader.server_extensions.formgrader"))
"""


@pytest.mark.parametrize("who", ["student", "grader"])
def test_the_formgrader_runs_on_the_graders_server_only(who, values, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env["HOME"] = str(tmp_path)  # no ~/.jupyter of this machine's
    if who == "student":  # the pods' variable, with the image's path made this checkout's
        path = values["singleuser"]["extraEnv"]["JUPYTER_CONFIG_PATH"]
        env["JUPYTER_CONFIG_PATH"] = str(ROOT / Path(path).relative_to(IMAGE_REPO))
    r = subprocess.run([sys.executable, "-c", _SERVER_EXTENSIONS], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-1] == ("False" if who == "student" else "True")


def test_per_student_memory_against_the_measurement():
    text = VALUES.read_text(encoding="utf-8")
    measured = None
    if HUB_LOAD.exists():
        import json

        measured = json.loads(HUB_LOAD.read_text())
    assert memory_problems(text, measured) == []


def test_memory_check_itself():
    base = "singleuser:\n  memory:\n    guarantee: {g}\n    limit: {lim}\n"
    mark = "# PLACEHOLDER\n"
    hl = {"hub": {"sizing_24gib": {"memory_per_user_mib": 400.0}}}
    assert memory_problems(mark + base.format(g="1024M", lim="2G"), None) == []
    assert memory_problems(base.format(g="1024M", lim="2G"), None)  # unmarked, unmeasured
    assert memory_problems(base.format(g="512M", lim="1G"), hl) == []
    assert memory_problems(base.format(g="1024M", lim="2G"), hl)  # placeholder left as is
    assert memory_problems(base.format(g="300M", lim="1G"), hl)  # below the measure
    assert memory_problems(mark + base.format(g="512M", lim="1G"), hl)  # marker left
    assert memory_problems(base.format(g="512M", lim="256M"), hl)  # limit < guarantee
    assert memory_problems(base.format(g="512M", lim="1G"), {"sizes": []})  # no figure
    assert mib("1G") == 1024 and mib(2**20) == 1 and mib("512M") == 512


# ---------------------------------------------------------------------------- for real


@pytest.mark.slow
def test_setup_image_mode_installs_a_working_hub_python(tmp_path):
    """``scripts/setup.sh --image`` as the image build runs it, into a scratch venv (pip:
    10-40 s here): the package, nbgrader with its extensions
    enabled, jupyterhub-singleuser, the exchange config; no test tools."""
    venv = tmp_path / "py"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    env = {**os.environ, "PYTHON": str(py)}
    r = subprocess.run(["bash", str(SETUP), "--image"], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "--image: done" in r.stdout
    code = ("import spfteach.grading.nbgrader_plugin, nbgrader, jupyterhub, importlib.util;"
            "print(all(importlib.util.find_spec(m) is None for m in ('pytest', 'playwright')))")
    out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True", "test tools were installed into the image"
    assert (venv / "bin" / "jupyterhub-singleuser").exists()
    assert (venv / "etc" / "jupyter" / "nbgrader_config.py").read_text() == \
        IMAGE_NBGRADER.read_text()
