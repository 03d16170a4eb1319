"""The Makefile's set-up and lint recipes, run by ``make`` in a copy of the Makefile with stand-ins
for the tools they call (Maven, ruff, sqlfluff): which folder they are given and when they run.
That the real tools do their part: every ``make setup``/``make lint`` (CI's ``make test``)."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from pinlake.config import REPO_ROOT
from pinlake.spark import SPARK_CONNECT_VARIABLES


def stand_ins(folder: Path, tools: dict[str, str]) -> Path:
    """Executable shell scripts ``folder/<name>`` with ``body`` each (``tools``: name → body)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in tools.items():
        (folder / name).write_text(f"#!/bin/sh\n{body}\n")
        (folder / name).chmod(0o755)
    return folder


def make(clone: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``make -s <args>`` in ``clone`` (a folder holding a copy of the Makefile), as a make of its
    own: under ``make test`` the outer make's variables (``MAKEFLAGS`` with its jobserver's
    descriptors, which its non-make recipes do not get) would make it warn "jobserver
    unavailable"."""
    outer = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")
    own = {k: v for k, v in os.environ.items() if k not in outer}
    return subprocess.run(
        ["make", "-s", *args],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**own, **(env or {})},
    )


def test_make_lint_reaches_spark_env_through_a_path_without_blanks(tmp_path: Path) -> None:
    """From a clone in "my projects/", sqlfluff's dbt templater started Spark, whose launcher
    sources ``${SPARK_CONF_DIR}/spark-env.sh`` unquoted, and ``make lint`` printed
    ``load-spark-env.sh: …/my: No such file or directory`` (helper-58): the recipe names the
    conf folder through :func:`pinlake.blank_free.blank_free_path`. And a shell's ``SPARK_HOME``
    (another Spark install), which PySpark would launch instead of the wheel's, and
    ``PYSPARK_SUBMIT_ARGS`` and ``PYTHONPATH`` (its ``python/``, whose pyspark would come
    before the venv's) and a Spark Connect user's variables (its session would be a Connect
    one) do not reach it (the Makefile unexports them)."""
    from pinlake.blank_free import blank_free_path

    clone = tmp_path / "my projects" / "pinlake"
    conf = clone / "ingestion" / "src" / "pinlake" / "conf"
    conf.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "Makefile", clone)
    stand_ins(
        clone / "venv" / "bin",
        {
            "python": f'exec {shlex.quote(sys.executable)} "$@"',
            "ruff": "true",
            "sqlfluff": 'echo "SPARK_CONF_DIR=$SPARK_CONF_DIR SPARK_HOME=${SPARK_HOME-unset}'
            " PYSPARK_SUBMIT_ARGS=${PYSPARK_SUBMIT_ARGS-unset} PYTHONPATH=${PYTHONPATH-unset}"
            " connect=${SPARK_REMOTE-}${SPARK_CONNECT_MODE_ENABLED-}${SPARK_LOCAL_REMOTE-}"
            '${SPARK_API_MODE-}"',
        },
    )
    (clone / "venv" / ".installed").touch()

    # from a shell whose SPARK_HOME names another Spark install: PySpark would launch that one
    another = {
        "SPARK_HOME": str(tmp_path / "another-spark"),
        "PYSPARK_SUBMIT_ARGS": "--packages io.delta:delta-spark_2.13:4.0.0 pyspark-shell",
        "PYTHONPATH": str(tmp_path / "another-spark" / "python"),
        **dict.fromkeys(SPARK_CONNECT_VARIABLES, "sc://192.0.2.10:15002"),
    }
    done = make(clone, "-o", "venv/.installed", "lint", "VENV=venv", env=another)
    link = blank_free_path(str(conf))
    Path(link).unlink()  # the link in the temporary folder
    assert done.returncode == 0, done.stderr
    shown = (
        f"SPARK_CONF_DIR={link} SPARK_HOME=unset PYSPARK_SUBMIT_ARGS=unset PYTHONPATH=unset "
        "connect=\n"
    )
    assert shown in done.stdout, done.stdout
    assert not any(blank in link for blank in " \t") and Path(link) != conf


def test_make_setup_resolves_the_jars_into_pinlake_jars_dir_once_per_pom(tmp_path: Path) -> None:
    """``PINLAKE_JARS_DIR`` is where pinlake reads the jars (Settings.jars_dir); ``make setup``
    resolved them into ``.pinlake-jars`` whatever it said, and pinlake then asked for ``make
    setup`` again. A second clone that shares the folder has a newer pom.xml (a clone's files
    are new): the jars other clones use are not removed and resolved again unless its content
    differs."""
    calls = tmp_path / "mvn-calls"
    path = stand_ins(tmp_path / "bin", {"mvn": f'echo "$*" >> {shlex.quote(str(calls))}'})
    shared = tmp_path / "shared-jars"
    env = {"PINLAKE_JARS_DIR": str(shared), "PATH": f"{path}:{os.environ['PATH']}"}

    def clone(name: str, pom: str) -> Path:
        folder = tmp_path / name
        (folder / "jvm").mkdir(parents=True)
        shutil.copy(REPO_ROOT / "Makefile", folder)
        (folder / "jvm" / "pom.xml").write_text(pom)
        return folder

    first = make(clone("first", "<project/>"), f"{shared}/.resolved", env=env)
    assert first.returncode == 0, first.stderr
    resolved = calls.read_text().splitlines()
    assert [line.split()[-1] for line in resolved] == ["spark", "s3", "kafka", "metastore"]
    assert all(f"-Djars.dir={shared} " in line for line in resolved), resolved
    assert (shared / ".resolved").read_text().strip() == hashlib.sha256(b"<project/>").hexdigest()
    assert not (tmp_path / "first" / ".pinlake-jars").exists()

    (shared / "spark").mkdir()  # what the first clone resolved, in use
    again = make(clone("second", "<project/>"), f"{shared}/.resolved", env=env)
    assert again.returncode == 0, again.stderr
    assert len(calls.read_text().splitlines()) == 4 and (shared / "spark").is_dir()

    changed = make(clone("third", "<project><version/></project>"), f"{shared}/.resolved", env=env)
    assert changed.returncode == 0, changed.stderr
    assert len(calls.read_text().splitlines()) == 8 and not (shared / "spark").exists()


def test_make_setup_into_another_jars_folder_links_the_clones_own_to_it(tmp_path: Path) -> None:
    """A set-up with ``PINLAKE_JARS_DIR`` filled that folder, and every later command of the clone
    without the variable read the clone's empty ``.pinlake-jars`` and asked for ``make setup``
    again (helper-94): the set-up links ``.pinlake-jars`` to the folder it filled (which
    Settings.jars_dir resolves), once; a ``.pinlake-jars`` folder of the clone's own is kept,
    with a note; a set-up without the variable links nothing."""
    from pinlake.config import Settings

    shared, other = tmp_path / "shared-jars", tmp_path / "other-jars"
    clone = tmp_path / "clone"
    clone.mkdir()
    shutil.copy(REPO_ROOT / "Makefile", clone)
    link = clone / ".pinlake-jars"

    done = make(clone, "jars-link", env={"PINLAKE_JARS_DIR": str(shared)})
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and os.readlink(link) == str(shared)
    assert done.stdout == (
        f"linked .pinlake-jars -> {shared}: this clone's commands find the jars without "
        "PINLAKE_JARS_DIR\n"
    )
    shared.mkdir()
    assert Settings(home=tmp_path / "home", jars_dir=link).jars_dir == shared
    # done; without the variable (empty: a shell's own would reach make) the folder is the link
    for env in ({"PINLAKE_JARS_DIR": str(shared)}, {"PINLAKE_JARS_DIR": ""}):
        again = make(clone, "jars-link", env=env)
        assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    moved = make(clone, "jars-link", env={"PINLAKE_JARS_DIR": str(other)})
    assert moved.returncode == 0 and os.readlink(link) == str(other), moved.stdout

    link.unlink()
    link.mkdir()
    kept = make(clone, "jars-link", env={"PINLAKE_JARS_DIR": str(shared)})
    assert kept.returncode == 0 and link.is_dir() and not link.is_symlink()
    assert kept.stdout == (
        f"note: .pinlake-jars is a folder of its own: this clone's commands read it unless "
        f"PINLAKE_JARS_DIR={shared} is set\n"
    ), kept.stdout

    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(REPO_ROOT / "Makefile", alone)
    done = make(alone, "jars-link", env={"PINLAKE_JARS_DIR": ""})
    assert (done.returncode, done.stdout) == (0, "") and not (alone / ".pinlake-jars").exists()


def test_a_jars_folder_whose_path_holds_a_blank_is_one_error_line(tmp_path: Path) -> None:
    """make splits file names at blanks: such a ``PINLAKE_JARS_DIR`` is refused before any
    recipe, naming the variable."""
    shutil.copy(REPO_ROOT / "Makefile", tmp_path)
    done = make(tmp_path, "help", env={"PINLAKE_JARS_DIR": str(tmp_path / "my jars")})
    assert done.returncode != 0
    assert "PINLAKE_JARS_DIR=" in done.stderr and "blank" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_make_help_lists_every_target_with_its_text_in_one_column() -> None:
    """helper-76: ``make test-fast``'s text began one column right of the others (the target
    column was 8 wide; ``test-fast`` is 9)."""
    done = subprocess.run(
        ["make", "--no-print-directory", "help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    documented = [
        line.split(":")[0]
        for line in (REPO_ROOT / "Makefile").read_text().splitlines()
        if "## " in line and line[:1].isalpha()
    ]
    assert [line.split()[1] for line in lines] == documented
    starts = {len(line) - len(line.split(None, 2)[2]) for line in lines}
    assert len(starts) == 1, lines


def test_a_clone_sharing_the_jars_folder_compiles_pinlakes_jars_only_when_their_sources_change(
    tmp_path: Path,
) -> None:
    """A second clone's ``make setup``, with ``PINLAKE_JARS_DIR`` shared (helper-88's), compiled
    pinlake's two jars again because its venv was newer than them: the same classes in new
    files, whose new times changed the first clone's class-data archive key
    (:func:`pinlake.spark_cds.archive_key`). That clone's Spark drivers then started without an
    archive, and three of its tests failed ("no class-data archive …: run `make setup`"). A jar
    is compiled again only when its sources (or pyspark, or javac) changed."""
    calls = tmp_path / "javac-calls"
    path = stand_ins(
        tmp_path / "bin",
        {
            "javac": '[ "$1" = -version ] && { echo "javac 17.0.99"; exit 0; }; '
            f'echo "$*" >> {shlex.quote(str(calls))}; mkdir -p "$3"; echo class > "$3/A.class"',
            "jar": 'echo "a jar of $4" > "$2"',
        },
    )
    shared = tmp_path / "shared-jars"
    (shared / "spark").mkdir(parents=True)  # as Maven resolved it
    (shared / ".resolved").write_text(hashlib.sha256(b"<project/>").hexdigest() + "\n")
    jar = shared / "spark" / "pinlake-hadoop-local.jar"
    env = {"PINLAKE_JARS_DIR": str(shared), "PATH": f"{path}:{os.environ['PATH']}"}

    def clone(name: str, source: str) -> Path:
        folder = tmp_path / name
        java = folder / "jvm" / "hadoop" / "pinlake" / "hadoop" / "NioLocalFs.java"
        java.parent.mkdir(parents=True)
        java.write_text(source)
        (folder / "jvm" / "pom.xml").write_text("<project/>")
        shutil.copy(REPO_ROOT / "Makefile", folder)
        for name in ("requirements.lock", "pyproject.toml"):
            (folder / name).touch()
        stand_ins(folder / "venv" / "bin", {"python": f'exec {shlex.quote(sys.executable)} "$@"'})
        installed = folder / "venv" / ".installed"
        installed.touch()
        if jar.is_file():  # a new clone: its venv is newer than the jars the others use
            later = jar.stat().st_mtime + 10
            os.utime(installed, (later, later))
        return folder

    def compiled(folder: Path) -> list[str]:
        done = make(folder, str(jar), "VENV=venv", env=env)
        assert done.returncode == 0, done.stderr
        return calls.read_text().splitlines() if calls.is_file() else []

    assert len(compiled(clone("first", "class NioLocalFs {}"))) == 1
    built = jar.stat().st_mtime_ns
    assert list(jar.parent.iterdir()) == [jar]  # renamed into place, no temporary file left

    assert len(compiled(clone("second", "class NioLocalFs {}"))) == 1
    assert jar.stat().st_mtime_ns == built  # the first clone's archive key holds

    assert len(compiled(clone("third", "class NioLocalFs { int changed; }"))) == 2
    jar.unlink()
    assert len(compiled(tmp_path / "third")) == 3 and jar.is_file()


def test_make_lets_python_write_the_projects_bytecode(tmp_path: Path) -> None:
    """A shell (CI's image, a sandbox) with ``PYTHONDONTWRITEBYTECODE=1`` made every xdist worker,
    ``pinlake`` command and DAG process of ``make test`` compile the project's modules and pytest
    rewrite the test modules again, each time (the fast loop: 275.5 against 239.3 busy CPU-s;
    bench/README.md): the Makefile unexports it for every recipe."""
    shutil.copy(REPO_ROOT / "Makefile", tmp_path)
    probe = "probe: ; @printenv PYTHONDONTWRITEBYTECODE || echo unset"
    done = make(tmp_path, "--eval", probe, "probe", env={"PYTHONDONTWRITEBYTECODE": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "unset\n"
