"""A local Spark standalone cluster (``pinlake services up --spark-cluster [--workers N]``): one
master and N workers, started with the pyspark wheel's ``bin/spark-class`` (the wheel is a Spark
home), all on loopback.

* **Master** (``org.apache.spark.deploy.master.Master``): ``spark://127.0.0.1:<port>``
  (``PINLAKE_SPARK_CLUSTER__PORT``, 7077), web UI on ``PINLAKE_SPARK_CLUSTER__UI_PORT`` (8180);
  it gives each application ``PINLAKE_SPARK_CLUSTER__APP_CORES`` cores (its
  ``spark.deploy.defaultCores``; Spark's default is every free core, so the first long-running
  application, e.g. the Thrift server, would hold the whole cluster and the next wait for ever).
  Log ``<home>/logs/spark-master.out``.
* **Worker n** (``org.apache.spark.deploy.worker.Worker``, n = 1..N): offers
  ``PINLAKE_SPARK_CLUSTER__WORKER_CORES`` cores and ``…__WORKER_MEMORY`` (1 core, 1g), web UI on
  ``…__WORKER_UI_PORT`` + n − 1 (8181, 8182, …); work dir (the executors' logs and files, one
  folder per application) ``<home>/spark-cluster/worker-n``, executors' scratch space
  ``…/worker-n/local``; ``PYSPARK_PYTHON`` is this virtualenv's Python. Log
  ``<home>/logs/spark-worker-n.out``.
* Every daemon's port is fixed (``spark.port.maxRetries=0``): a taken port is an error, never a
  silent other port; ``up`` checks them first. The master's REST submission server (port 6066,
  cluster-mode ``spark-submit``, which pinlake never uses) is off
  (``spark.master.rest.enabled=false``), so two homes' masters do not collide on it.
* Ready when the master's JSON endpoint (``http://127.0.0.1:<ui_port>/json/``, what its web UI
  shows, asked only once that port listens: ``process.wait_healthy``'s ``ports``) lists the N
  workers (by web UI port) as ``ALIVE``. A master or worker this ``up`` started that does not
  get there is stopped again, and the error names its log.
* Each daemon records its configuration beside its pid file (:mod:`.process`): the master its
  ports, app cores and the worker count, each worker its master, cores, memory, UI port and work
  dir; ``up`` with other settings refuses (``services down`` first).

While the master runs, the Spark processes of the home use it as their master
(:func:`pinlake.spark.spark_master`, through :func:`pinlake.run_folder.running_master_url`);
their executors get the driver's jars and options from :func:`pinlake.spark.spark_conf`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pinlake import run_folder
from pinlake.config import MAX_LOCAL_WORKERS, Settings, local_master_url, spark_home
from pinlake.errors import PinlakeError
from pinlake.loopback import get_local, no_proxy_env
from pinlake.run_folder import running_master_url
from pinlake.services import process
from pinlake.spark import SHELL_DROPPED, scratch_settings

MASTER = run_folder.SPARK_MASTER
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
#: Start-up waits (seconds): a master answers within ~10 s and a worker registers within
#: ~5-35 s here (stream-and-scale-out notes, §2 a); generous for 2 busy cores.
MASTER_TIMEOUT = 120.0
WORKERS_TIMEOUT = 180.0


def worker_name(n: int) -> str:
    """The service name of worker ``n`` (1-based): ``spark-worker-n``."""
    return f"spark-worker-{n}"


#: Every service name of the cluster, master first (``down`` stops them in reverse).
SERVICE_NAMES: tuple[str, ...] = (
    MASTER,
    *(worker_name(n) for n in range(1, MAX_LOCAL_WORKERS + 1)),
)


def master_url(settings: Settings) -> str:
    """``spark://127.0.0.1:<port>``: the master URL the settings ask for."""
    return local_master_url(settings.spark_cluster.port)


def ui_url(settings: Settings) -> str:
    """``http://127.0.0.1:<ui_port>``: the master's web UI (workers, applications)."""
    return f"http://127.0.0.1:{settings.spark_cluster.ui_port}"


def worker_ui_port(settings: Settings, n: int) -> int:
    """The web UI port of worker ``n``: ``worker_ui_port + n - 1``."""
    return settings.spark_cluster.worker_ui_port + n - 1


def cluster_dir(settings: Settings) -> Path:
    """``<home>/spark-cluster``: the workers' work dirs."""
    return settings.home / "spark-cluster"


def work_dir(settings: Settings, n: int) -> Path:
    """Worker ``n``'s work dir: one folder per application (``app-…/<executor id>/stderr``)."""
    return cluster_dir(settings) / f"worker-{n}"


def log_path(settings: Settings, name: str) -> Path:
    """``<home>/logs/<name>.out``: the log of the master or a worker."""
    return settings.logs_dir / f"{name}.out"


def master_config(settings: Settings) -> dict[str, object]:
    """What a running master is tied to (recorded beside its pid file, compared by ``up``)."""
    c = settings.spark_cluster
    return {"port": c.port, "ui_port": c.ui_port, "app_cores": c.app_cores, "workers": c.workers}


def worker_config(settings: Settings, n: int) -> dict[str, object]:
    """What running worker ``n`` is tied to (recorded beside its pid file)."""
    c = settings.spark_cluster
    return {
        "master": master_url(settings),
        "cores": c.worker_cores,
        "memory": c.worker_memory,
        "ui_port": worker_ui_port(settings, n),
        "work_dir": str(work_dir(settings, n)),
    }


def wanted_configs(settings: Settings) -> dict[str, dict[str, object]]:
    """The configuration of the master and of each of the ``workers`` workers, by name."""
    wanted = {MASTER: master_config(settings)}
    for n in range(1, settings.spark_cluster.workers + 1):
        wanted[worker_name(n)] = worker_config(settings, n)
    return wanted


def _spark_class() -> str:
    return str(spark_home() / "bin" / "spark-class")


def master_argv(settings: Settings) -> list[str]:
    """``spark-class …Master --host 127.0.0.1 --port P --webui-port U``."""
    c = settings.spark_cluster
    return [
        _spark_class(),
        MASTER_CLASS,
        "--host",
        "127.0.0.1",
        "--port",
        str(c.port),
        "--webui-port",
        str(c.ui_port),
    ]


def worker_argv(settings: Settings, n: int) -> list[str]:
    """``spark-class …Worker --host 127.0.0.1 --cores C --memory M --work-dir D --webui-port U
    spark://127.0.0.1:<port>`` for worker ``n``."""
    c = settings.spark_cluster
    return [
        _spark_class(),
        WORKER_CLASS,
        "--host",
        "127.0.0.1",
        "--cores",
        str(c.worker_cores),
        "--memory",
        c.worker_memory,
        "--work-dir",
        str(work_dir(settings, n)),
        "--webui-port",
        str(worker_ui_port(settings, n)),
        master_url(settings),
    ]


def daemon_env(settings: Settings, n: int | None = None) -> dict[str, str]:
    """The environment of the master (``n`` None) or of worker ``n``: this environment plus
    ``SPARK_HOME`` (the wheel), loopback, this virtualenv's Python for the executors' Python
    workers, ``NO_PROXY`` with loopback (:func:`pinlake.loopback.no_proxy_env`), none of a
    shell's variables for another Hadoop (:data:`pinlake.spark.SHELL_DROPPED`), the daemons'
    options (fixed ports; the master's cores per application) and, for a
    worker, its executors' scratch dir (``SPARK_LOCAL_DIRS``) under its work dir: a
    comma-separated list to Spark, so for a home whose path holds a comma it is the system's
    temporary folder (:func:`pinlake.spark.scratch_settings`' rule). Spark's own logging
    configuration (INFO, to the log file): pinlake's errors-only one is for drivers."""
    env = {k: v for k, v in os.environ.items() if k not in SHELL_DROPPED}  # another Hadoop's
    env.pop("SPARK_CONF_DIR", None)
    env.update(
        SPARK_HOME=str(spark_home()),
        SPARK_LOCAL_IP="127.0.0.1",
        PYSPARK_PYTHON=sys.executable,
        SPARK_LOG_DIR=str(settings.logs_dir),
        DO_NOT_TRACK="1",
        **no_proxy_env(os.environ),  # the executors' s3a:// to a server on loopback: direct
    )
    if settings.jvm_options:  # the daemons' JVMs (Spark's launcher: SPARK_DAEMON_JAVA_OPTS)
        env["SPARK_DAEMON_JAVA_OPTS"] = settings.jvm_options
    if n is None:
        env["SPARK_MASTER_OPTS"] = (
            f"-Dspark.deploy.defaultCores={settings.spark_cluster.app_cores} "
            "-Dspark.port.maxRetries=0 -Dspark.master.rest.enabled=false"
        )
    else:
        env["SPARK_WORKER_OPTS"] = "-Dspark.port.maxRetries=0"
        env["SPARK_LOCAL_DIRS"] = scratch_settings(work_dir(settings, n) / "local").local_dir
    return env


def master_pid(settings: Settings) -> int | None:
    """The master's pid, None if it does not run."""
    return process.read_pid(settings.run_dir, MASTER)


def worker_pid(settings: Settings, n: int) -> int | None:
    """Worker ``n``'s pid, None if it does not run."""
    return process.read_pid(settings.run_dir, worker_name(n))


def _running_ui_port(settings: Settings) -> int:
    found = process.running(settings.run_dir, MASTER)
    return int(((found and found.config) or {}).get("ui_port", settings.spark_cluster.ui_port))


def master_state(settings: Settings, timeout: float = 2.0) -> dict[str, Any] | None:
    """The running master's JSON state (``GET http://127.0.0.1:<ui_port>/json/``: ``status``,
    ``workers`` with ``state`` and ``webuiaddress``, ``activeapps``, ``completedapps``, …), or
    None when it does not answer."""
    import httpx

    try:
        answer = get_local(f"http://127.0.0.1:{_running_ui_port(settings)}/json/", timeout=timeout)
        answer.raise_for_status()
        state = answer.json()
    except (httpx.HTTPError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def finished_app(settings: Settings, name: str, timeout: float = 120) -> dict[str, Any]:
    """The finished application ``name`` as the running master lists it (its
    ``completedapps`` entry: ``id``, ``name``, ``state``, ``cores``, …), waiting up to
    ``timeout`` seconds for the master to notice its driver end. Raises :class:`PinlakeError`
    (``process.wait_healthy``) when the master lists none by then."""

    def found() -> dict[str, Any] | None:
        state = master_state(settings) or {}
        apps = [a for a in state.get("completedapps") or [] if a.get("name") == name]
        return apps[0] if apps else None

    process.wait_healthy(
        lambda: found() is not None,
        timeout=timeout,
        interval=1,
        pid=None,
        exited="",
        not_healthy=f"the cluster's master lists no finished {name} application",
    )
    return found() or {}


def alive_worker_ui_ports(state: dict[str, Any] | None) -> set[int]:
    """The web UI ports of the workers the master lists as ``ALIVE`` (a restarted worker is
    listed again under a new id; its old entry is ``DEAD``)."""
    ports = set()
    for worker in (state or {}).get("workers") or []:
        address = str(worker.get("webuiaddress", ""))
        port = address.rpartition(":")[2].rstrip("/")
        if worker.get("state") == "ALIVE" and port.isdigit():
            ports.add(int(port))
    return ports


def planned_ports(settings: Settings, running: bool = False) -> list[tuple[int, str]]:
    """``(port, the setting that moves it)`` of every daemon that is to be started (one that
    does not run now; every one with ``running``): the master's port and web UI, each
    worker's web UI."""
    c = settings.spark_cluster
    ports: list[tuple[int, str, str]] = []  # (port, its setting, how the setting gives it)
    if running or master_pid(settings) is None:
        ports += [(c.port, "PORT", ""), (c.ui_port, "UI_PORT", "")]
    for n in range(1, c.workers + 1):
        if running or worker_pid(settings, n) is None:
            # worker n's web UI is the setting + n - 1: say so, or moving it by 1 collides again
            # (worker 1: the port itself, not "+ 0": helper-112)
            step = f"; worker {n}'s web UI is that port" + (f" + {n - 1}" if n > 1 else "")
            step = step if c.workers > 1 else ""
            ports.append((worker_ui_port(settings, n), "WORKER_UI_PORT", step))
    return [(port, f"PINLAKE_SPARK_CLUSTER__{var}{step}") for port, var, step in ports]


def check_ports(settings: Settings) -> None:
    """Raise PinlakeError naming the first taken port of a daemon that is to be started
    (:func:`planned_ports`)."""
    for port, chooser in planned_ports(settings):
        process.refuse_busy_port(port, chooser)


def start(settings: Settings, say: Callable[[str], object] = lambda _m: None) -> dict[str, int]:
    """Start (or reuse) the master and the ``workers`` workers and wait until the master lists
    them all ``ALIVE``; returns the pid of each, by service name.

    Raises :class:`PinlakeError` when a port is taken (before anything starts), or when a
    daemon exits during start-up or is not ready in time (the message names its log); the
    daemons this call started are stopped again first.
    """
    check_ports(settings)
    run = settings.run_dir
    started: list[str] = []
    pids: dict[str, int] = {}
    try:
        mpid = master_pid(settings)
        if mpid is None:
            mpid = process.spawn(
                run,
                log_path(settings, MASTER),
                MASTER,
                master_argv(settings),
                env=daemon_env(settings),
                config=master_config(settings),
            )
            started.append(MASTER)
            say(
                f"starting the Spark master on {master_url(settings)} (web UI "
                f"{ui_url(settings)}, pid {mpid})"
            )
        pids[MASTER] = mpid
        log = log_path(settings, MASTER)
        process.wait_healthy(
            lambda: (master_state(settings) or {}).get("status") == "ALIVE",
            timeout=MASTER_TIMEOUT,
            interval=1.0,
            pid=mpid,
            exited="the Spark master exited during start-up",
            log=log,
            not_healthy=f"the Spark master did not answer on {ui_url(settings)}/json/ within "
            f"{MASTER_TIMEOUT:.0f}s",
            ports=[_running_ui_port(settings)],  # asked only once its web UI listens
        )
        for n in range(1, settings.spark_cluster.workers + 1):
            name = worker_name(n)
            wpid = worker_pid(settings, n)
            if wpid is None:
                work_dir(settings, n).mkdir(parents=True, exist_ok=True)
                wpid = process.spawn(
                    run,
                    log_path(settings, name),
                    name,
                    worker_argv(settings, n),
                    env=daemon_env(settings, n),
                    config=worker_config(settings, n),
                )
                started.append(name)
                say(
                    f"starting Spark worker {n} ({settings.spark_cluster.worker_cores} core(s), "
                    f"{settings.spark_cluster.worker_memory}; web UI "
                    f"http://127.0.0.1:{worker_ui_port(settings, n)}, pid {wpid})"
                )
            pids[name] = wpid
        _wait_workers(settings, pids)
    except PinlakeError:
        for name in reversed(started):
            process.stop(run, name, timeout=10)
        raise
    return pids


def _wait_workers(settings: Settings, pids: dict[str, int]) -> None:
    """Wait until every worker of ``pids`` is ALIVE at the master; raise (naming the logs) when
    one exits or the wait times out."""
    workers = range(1, settings.spark_cluster.workers + 1)
    wanted = {worker_ui_port(settings, n) for n in workers}

    def ready() -> bool:
        for name, wpid in pids.items():
            if name != MASTER and not process.is_alive(wpid):
                raise PinlakeError(
                    process.with_logs(
                        f"Spark {name} exited during start-up", [log_path(settings, name)]
                    )
                )
        return wanted <= alive_worker_ui_ports(master_state(settings))

    process.wait_healthy(
        ready,
        timeout=WORKERS_TIMEOUT,
        interval=1.0,
        pid=None,
        exited="",  # ready() names the worker that exited
        not_healthy=f"not every Spark worker registered with {master_url(settings)} within "
        f"{WORKERS_TIMEOUT:.0f}s (web UI {ui_url(settings)})",
        log=[log_path(settings, worker_name(n)) for n in workers],
    )


def stop(settings: Settings, timeout: float = 30.0) -> bool:
    """Stop the workers (each that runs, all at once), then the master; True if any ran.
    Their applications' executors end with the workers."""
    run_dir = settings.run_dir
    workers = [n for n in SERVICE_NAMES if n != MASTER and process.read_pid(run_dir, n) is not None]
    if workers:
        with ThreadPoolExecutor(max_workers=len(workers)) as pool:
            list(pool.map(lambda name: process.stop(run_dir, name, timeout=timeout), workers))
    return process.stop(run_dir, MASTER, timeout=timeout) or bool(workers)


def status_rows(settings: Settings) -> tuple[list[tuple], bool]:
    """``services status`` rows (service, address, pid, state) of the master and of each worker
    it was started for or that runs (none when nothing of the cluster runs), and whether all
    of them are healthy: the master answers ``ALIVE``, a worker is ``ALIVE`` at the master
    (``running``: its process runs but it is not registered; ``down``). A master that ended
    without being stopped is shown so (:data:`~pinlake.services.process.ENDED`), with the
    workers it was started for."""
    master = process.running(settings.run_dir, MASTER)
    ended = None if master else process.ended(settings.run_dir, MASTER)
    config = (master.config if master else ended) or {}
    workers = [n for n in range(1, MAX_LOCAL_WORKERS + 1) if worker_pid(settings, n) is not None]
    expected = int(config.get("workers", 0))
    numbers = sorted(set(workers) | set(range(1, expected + 1)))
    if master is None and ended is None and not numbers:
        return [], True
    state = master_state(settings) if master else None
    m_ok = (state or {}).get("status") == "ALIVE"
    ui = f"http://127.0.0.1:{_running_ui_port(settings)}"
    url = running_master_url(settings) or master_url(settings)
    apps = len((state or {}).get("activeapps") or [])
    rows: list[tuple] = [
        (
            "spark master",
            f"{url} · UI {ui}",
            master.pid if master else "-",
            (
                f"healthy, {apps} app(s) running"
                if m_ok
                else (process.ENDED if ended is not None else "down")  # (read above)
            ),
        )
    ]
    alive = alive_worker_ui_ports(state)
    ok = m_ok
    for n in numbers:
        found = process.running(settings.run_dir, worker_name(n))
        w_config = (found.config if found else None) or {}
        port = int(w_config.get("ui_port", worker_ui_port(settings, n)))
        healthy = found is not None and port in alive
        ok = ok and healthy
        rows.append(
            (
                f"spark worker {n}",
                f"UI http://127.0.0.1:{port}"
                + (f" · {w_config['cores']} core(s), {w_config['memory']}" if w_config else ""),
                found.pid if found else "-",
                "healthy"
                if healthy
                else ("running" if found else process.down_state(settings.run_dir, worker_name(n))),
            )
        )
    return rows, ok


def with_workers(settings: Settings, workers: int) -> Settings:
    """``settings`` with ``workers`` cluster workers (``--workers``); ValueError out of 1..max."""
    if not 1 <= workers <= MAX_LOCAL_WORKERS:
        raise ValueError(f"workers must be 1..{MAX_LOCAL_WORKERS}, not {workers}")
    cluster = settings.spark_cluster.model_copy(update={"workers": workers})
    return settings.model_copy(update={"spark_cluster": cluster})


def as_master(settings: Settings) -> Settings:
    """``settings`` with this cluster as its Spark master, unless ``PINLAKE_SPARK_MASTER`` names
    one: what the home's Spark processes use once the cluster runs (for checking, before ``up``
    starts it, the configuration a service started after it will have)."""
    if settings.spark_master:
        return settings
    return settings.model_copy(update={"spark_master": master_url(settings)})
