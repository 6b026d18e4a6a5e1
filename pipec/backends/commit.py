"""The all-or-nothing commit of a run's outputs, written once for every backend.

A run stages each output as a temporary file (or folder) beside its target, named
`.<name>.pipec-<run id>.tmp`. `commit` then:

1. validates EVERY target before touching any: a missing path or a regular file may be replaced;
   a folder only if pipec made it (it carries the `.pipec-output` marker, or is a model folder
   with pipec's sidecar); anything else (a user's folder, `.`, a symlink to a folder, the folder
   holding the journal) is a `CommitError` naming the path;
2. writes a journal (run id and every (target, staged, backup) triple) durably into
   `<working directory>/.pipec/commits/`;
3. moves each old output aside to `.<name>.pipec-<run id>.old`, and the staged one into place;
4. deletes the backups, then the journal.

A commit interrupted at any moment (even by SIGKILL) leaves its journal behind; `recover`, called
by the next run in that working directory before anything else, rolls it forward (or back, if a
staged file is missing), so outputs end all old or all new. Commits into one working directory
serialise on `commit_lock`. A temporary file of a run that no longer lives (its `RunLock` is free)
is stale: `remove_stale` deletes those beside given targets, `remove_recorded` those a run noted
(`record_temporary`) before making them, wherever they are.

The file operations go through a small adapter (`LocalFiles` here; the Spark job has one over the
Hadoop FileSystem API). This module imports only the standard library, because it is copied beside
generated DAGs and embedded into generated Spark jobs.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import signal
import threading
import time
import uuid
from contextlib import contextmanager, suppress
from typing import Any, Iterator

STATE_DIR = ".pipec"  # under the working directory: the journals and the run locks
MARKER = ".pipec-output"  # in every folder pipec writes as an output
MODEL_SIDECARS = ("model.json", "pipec-model.json")  # local and Spark model descriptions
PAUSE_VARIABLE = "PIPEC_TEST_COMMIT_PAUSE"  # tests: seconds to sleep after each rename
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.pipec-(?P<run>[0-9a-f]{12})\.(?:tmp|old)$")


class CommitError(Exception):
    """A target pipec may not replace, or a commit that could not be carried out."""


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def staged_path(files: Any, target: str, run_id: str) -> str:
    """Where a run stages the output for `target`: beside it, so that the commit is a rename."""
    folder, name = files.split(target)
    return files.join(folder, f".{name}.pipec-{run_id}.tmp")


def _backup_path(files: Any, target: str, run_id: str) -> str:
    folder, name = files.split(target)
    return files.join(folder, f".{name}.pipec-{run_id}.old")


# ------------------------------------------------------------------ the local file system
class LocalFiles:
    """The operations the protocol needs, on local paths (a `file:` URI is taken as its path)."""

    name = "local"

    @staticmethod
    def local(path: str) -> str:
        return re.sub(r"^file:(//)?", "", path) if path.startswith("file:") else path

    def split(self, path: str) -> tuple[str, str]:
        return os.path.split(self.local(path).rstrip("/") or "/")

    def join(self, folder: str, name: str) -> str:
        return os.path.join(self.local(folder), name)

    def kind(self, path: str) -> str:
        """'missing', 'file', 'dir', 'link' (a symlink to a folder) or 'other'."""
        path = self.local(path)
        if os.path.islink(path) and os.path.isdir(path):
            return "link"
        if os.path.isfile(path):
            return "file"
        if os.path.isdir(path):
            return "dir"
        return "other" if os.path.lexists(path) else "missing"

    def read_text(self, path: str) -> str | None:
        try:
            with open(self.local(path), encoding="utf-8") as handle:
                return handle.read()
        except (OSError, UnicodeDecodeError):
            return None

    def list(self, folder: str) -> list[str]:
        try:
            return sorted(os.listdir(self.local(folder)))
        except OSError:
            return []

    def rename(self, source: str, target: str) -> None:
        os.rename(self.local(source), self.local(target))

    def remove(self, path: str) -> None:
        path = self.local(path)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)

    def make_dirs(self, folder: str) -> None:
        os.makedirs(self.local(folder), exist_ok=True)

    def write_durably(self, path: str, text: str) -> None:
        """Write a file so that it survives a crash once this returns: temp file, fsync, rename,
        fsync of the folder."""
        path = self.local(path)
        temp = f"{path}.{uuid.uuid4().hex[:8]}.part"
        with open(temp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temp, path)
        self.sync_folder(os.path.dirname(path))

    def sync(self, path: str) -> None:
        """Flush a staged file (or every file of a staged folder) to disk."""
        path = self.local(path)
        for file in ([os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
                     if os.path.isdir(path) else [path]):
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())
        if os.path.isdir(path):
            self.sync_folder(path)

    def sync_folder(self, folder: str) -> None:
        descriptor = os.open(self.local(folder) or ".", os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")  # s3://, gs://, memory:// ... (file: is local)


def is_url(path: str) -> bool:
    """A location in an object store or other fsspec file system (not a local path)."""
    return bool(URL.match(path)) and not path.startswith("file:")


class StoreFiles(LocalFiles):
    """`LocalFiles`, and the same operations on fsspec URLs (`s3://bucket/key`): one adapter for
    a run whose sinks are local files or objects, so that its journal is finished by any local
    run. An object store has no rename: `rename` is a server-side copy, then a delete, and a
    "folder" is a key prefix. The store's credentials and endpoint come from the environment
    (for S3: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, ...), never from a path."""

    @staticmethod
    def fs(path: str) -> tuple[Any, str]:
        from fsspec.core import url_to_fs

        return url_to_fs(path)

    @staticmethod
    def local(path: str) -> str:
        return path if is_url(path) else LocalFiles.local(path)

    def split(self, path: str) -> tuple[str, str]:
        if not is_url(path):
            return super().split(path)
        folder, _, name = path.rstrip("/").rpartition("/")
        return folder, name

    def join(self, folder: str, name: str) -> str:
        return f"{folder.rstrip('/')}/{name}" if is_url(folder) else super().join(folder, name)

    def kind(self, path: str) -> str:
        if not is_url(path):
            return super().kind(path)
        fs, key = self.fs(path)
        fs.invalidate_cache()
        if fs.isfile(key):
            return "file"
        return "dir" if fs.isdir(key) else "missing"

    def read_text(self, path: str) -> str | None:
        if not is_url(path):
            return super().read_text(path)
        fs, key = self.fs(path)
        try:
            return fs.cat_file(key).decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def list(self, folder: str) -> list[str]:
        if not is_url(folder):
            return super().list(folder)
        fs, key = self.fs(folder)
        try:
            return sorted(entry.rstrip("/").rsplit("/", 1)[-1] for entry in fs.ls(key, detail=False, refresh=True))
        except FileNotFoundError:
            return []

    def rename(self, source: str, target: str) -> None:
        if not is_url(source):
            return super().rename(source, target)
        self.copy(source, target)
        self.remove(source)

    def copy(self, source: str, target: str) -> None:
        """Copy an object, or every object under a prefix, within one store (server-side)."""
        fs, key = self.fs(source)
        to = self.fs(target)[1]
        fs.invalidate_cache()
        if fs.isfile(key):
            fs.copy(key, to)
        else:  # a "folder": key by key (fsspec's `copy` of a prefix nests it when the target exists)
            for path in fs.find(key):
                fs.copy(path, to + path[len(key.rstrip("/")):])
        fs.invalidate_cache()

    def remove(self, path: str) -> None:
        if not is_url(path):
            return super().remove(path)
        fs, key = self.fs(path)
        if fs.exists(key):
            fs.rm(key, recursive=True)
        fs.invalidate_cache()

    def make_dirs(self, folder: str) -> None:
        if not is_url(folder):
            super().make_dirs(folder)  # an object store has no folders to make

    def upload(self, local: str, target: str) -> None:
        """Copy a local file or folder to `target` (a URL)."""
        fs, key = self.fs(target)
        fs.put(local, key, recursive=os.path.isdir(local))
        fs.invalidate_cache()

    def download(self, source: str, local: str) -> None:
        fs, key = self.fs(source)
        fs.get(key, local, recursive=fs.isdir(key))

    def sync(self, path: str) -> None:
        if not is_url(path):
            super().sync(path)  # an object is durable once written

    def sync_folder(self, folder: str) -> None:
        if not is_url(folder):
            super().sync_folder(folder)


# ------------------------------------------------------------------ which targets may be replaced
def made_by_pipec(files: Any, folder: str) -> bool:
    """A folder pipec wrote: it has the marker, or it is a model folder with pipec's sidecar."""
    names = set(files.list(folder))
    if MARKER in names:
        return True
    for sidecar in MODEL_SIDECARS:
        text = files.read_text(files.join(folder, sidecar)) if sidecar in names else None
        try:
            meta = json.loads(text) if text else None
        except ValueError:
            meta = None
        if isinstance(meta, dict) and (str(meta.get("format", "")).startswith("pipec-model/")
                                       or {"kind", "estimator", "features"} <= set(meta)):
            return True
    return False


def check_targets(files: Any, targets: list[str], state_dir: str) -> None:
    """Raise `CommitError` for the first target pipec may not replace (shared decision 5)."""
    seen: set[str] = set()
    journal_home = os.path.abspath(files.local(state_dir)) + os.sep
    for target in targets:
        shown = files.local(target)
        if target in seen:
            raise CommitError(f"cannot write {shown}: two outputs of this run have that path")
        seen.add(target)
        kind = files.kind(target)
        if kind in ("missing", "file"):
            continue
        if kind == "link":
            raise CommitError(f"cannot write {shown}: it is a symbolic link to a folder; "
                              f"pipec replaces only files and folders it wrote itself")
        if kind == "other":
            raise CommitError(f"cannot write {shown}: it is neither a file nor a folder")
        if journal_home.startswith(os.path.abspath(shown).rstrip(os.sep) + os.sep):
            raise CommitError(f"cannot write {shown}: it is a folder holding this working directory")
        if not made_by_pipec(files, target):
            raise CommitError(f"cannot write {shown}: it is a folder pipec did not write "
                              f"(no {MARKER} marker, no model sidecar); move it away or choose "
                              f"another path")


# ------------------------------------------------------------------ commit and recovery
def commit(files: Any, state_dir: str, run_id: str, outputs: list[tuple[str, str]],
           scratch: tuple[str, ...] = ()) -> None:
    """Move every staged output into place, all or nothing. `outputs` is [(staged, target)];
    `scratch` lists temporary folders to delete once the commit is done."""
    check_targets(files, [target for _, target in outputs], state_dir)
    for staged, target in outputs:
        if files.kind(staged) == "missing":
            raise CommitError(f"cannot write {files.local(target)}: its staged output {staged} is missing")
        files.sync(staged)
    entries = [{"target": target, "staged": staged,
                "backup": None if files.kind(target) == "missing" else _backup_path(files, target, run_id)}
               for staged, target in outputs]
    journal = {"run": run_id, "files": files.name, "entries": entries, "scratch": list(scratch)}
    folder = files.join(state_dir, "commits")
    files.make_dirs(folder)
    journal_path = files.join(folder, f"{run_id}.json")
    files.write_durably(journal_path, json.dumps(journal, indent=1))
    pause = float(os.environ.get(PAUSE_VARIABLE) or 0)
    try:
        for entry in entries:
            if entry["backup"]:
                files.rename(entry["target"], entry["backup"])
                time.sleep(pause)
            files.rename(entry["staged"], entry["target"])
            time.sleep(pause)
    except Exception:
        recover(files, state_dir)  # a failed rename: finish or undo now, not at the next run
        raise
    _finish(files, journal, journal_path)


def _finish(files: Any, journal: dict[str, Any], journal_path: str) -> None:
    """After every rename: make them durable, then drop backups, scratch and the journal."""
    for folder in dict.fromkeys(files.split(e["target"])[0] for e in journal["entries"]):
        files.sync_folder(folder)
    for entry in journal["entries"]:
        if entry["backup"]:
            files.remove(entry["backup"])
    for temp in journal.get("scratch", []):
        files.remove(temp)
    files.remove(journal_path)


def recover(files: Any, state_dir: str) -> list[str]:
    """Finish (or undo) every commit an interrupted run left in `state_dir`; one line each.

    Forward when every output is either still staged or already in place; back (restoring the
    backups) when a staged output has disappeared. Journals another file system must finish
    (a Spark job's on HDFS) are left for it, with a line saying so."""
    folder = files.join(state_dir, "commits")
    messages = []
    for name in files.list(folder):
        path = files.join(folder, name)
        if not name.endswith(".json"):
            continue
        try:
            journal = json.loads(files.read_text(path) or "")
        except ValueError:  # the journal itself was being written: nothing was renamed yet
            files.remove(path)
            continue
        if journal.get("files") != files.name and not all(
                _is_local(e[k]) for e in journal["entries"] for k in ("target", "staged")):
            messages.append(f"an interrupted commit of run {journal['run']} must be finished by a "
                            f"{journal.get('files')} run")
            continue
        entries = journal["entries"]
        lost = [e for e in entries if files.kind(e["staged"]) == "missing"
                and files.kind(e["target"]) == "missing"]
        if lost:
            for entry in entries:
                _roll_back(files, entry)
            outcome = "rolled back (its staged outputs were missing): the earlier outputs are kept"
        else:
            for entry in entries:
                _roll_forward(files, entry)
            outcome = f"rolled forward: all {len(entries)} outputs are the new ones"
        _finish(files, journal, path)
        messages.append(f"recovered an interrupted commit of run {journal['run']}: {outcome}")
    return messages


def clean_up(files: Any, state_dir: str, targets: list[str]) -> list[str]:
    """What every run does first (under the commit lock): finish or undo the commits interrupted
    runs left (`recover`, one line each), then remove the temporary files dead runs left beside
    `targets` or recorded."""
    with commit_lock(state_dir):
        messages = recover(files, state_dir)
        remove_stale(files, state_dir, targets)
        remove_recorded(files, state_dir)
    return messages


def pending_commits(state_dir: str) -> bool:
    """Whether an interrupted run left a commit journal in `state_dir` (local folder)."""
    return any(name.endswith(".json") for name in LocalFiles().list(os.path.join(state_dir, "commits")))


def _is_local(path: str) -> bool:
    return not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", path) or path.startswith("file:")


def _roll_forward(files: Any, entry: dict[str, Any]) -> None:
    if files.kind(entry["staged"]) == "missing":
        return  # already in place
    if entry["backup"] and files.kind(entry["backup"]) == "missing" and files.kind(entry["target"]) != "missing":
        files.rename(entry["target"], entry["backup"])
    files.rename(entry["staged"], entry["target"])


def _roll_back(files: Any, entry: dict[str, Any]) -> None:
    moved_in = files.kind(entry["staged"]) == "missing" and files.kind(entry["target"]) != "missing"
    if entry["backup"] and files.kind(entry["backup"]) != "missing":
        if files.kind(entry["target"]) != "missing":
            files.remove(entry["target"])  # the new output, which pipec wrote
        files.rename(entry["backup"], entry["target"])
    elif moved_in and not entry["backup"]:
        files.remove(entry["target"])
    files.remove(entry["staged"])


# ------------------------------------------------------------------ locks and stale temporaries
@contextmanager
def commit_lock(state_dir: str) -> Iterator[None]:
    """Serialise recovery and commits of the runs in one working directory (a local folder)."""
    os.makedirs(state_dir, exist_ok=True)
    with open(os.path.join(state_dir, "commit.lock"), "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class RunLock:
    """Held (flock) for the whole life of a run: its temporary files are stale once it is free,
    which happens by itself when the process dies, even by SIGKILL."""

    def __init__(self, state_dir: str, run_id: str):
        self.run_id = run_id
        self.path = os.path.join(state_dir, "runs", f"{run_id}.lock")
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._handle = open(self.path, "a")
        fcntl.flock(self._handle.fileno(), fcntl.LOCK_EX)

    def release(self) -> None:
        """The run is over and has removed or committed its temporary files."""
        if not self._handle.closed:
            with suppress(FileNotFoundError):
                os.unlink(_record_path(os.path.dirname(os.path.dirname(self.path)), self.run_id))
            os.unlink(self.path)
            self._handle.close()


def run_is_alive(state_dir: str, run_id: str) -> bool:
    path = os.path.join(state_dir, "runs", f"{run_id}.lock")
    try:
        with open(path, "a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except FileNotFoundError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return True
        raise
    return False


def record_temporary(state_dir: str, run_id: str, path: str) -> None:
    """Note a temporary file or folder the living run `run_id` (holding its RunLock) is about
    to make: should the run die, the next one removes it (`remove_recorded`), whatever its sinks."""
    with open(_record_path(state_dir, run_id), "a", encoding="utf-8") as record:
        record.write(path + "\n")


def remove_recorded(files: Any, state_dir: str) -> int:
    """Delete the temporary files and folders that dead runs recorded (those no pending journal
    names, and only names of that run's temporary files); how many."""
    pending = _pending_paths(files, state_dir)
    removed = 0
    runs = os.path.join(state_dir, "runs")
    for entry in LocalFiles().list(runs):
        run_id = entry.removesuffix(".temps")
        if run_id == entry or run_is_alive(state_dir, run_id):
            continue
        with open(os.path.join(runs, entry), encoding="utf-8") as record:
            paths = record.read().splitlines()
        for path in paths:
            match = _TEMP_NAME.match(files.split(path)[1])
            if match and match.group("run") == run_id and path not in pending:
                files.remove(path)
                removed += 1
        os.unlink(os.path.join(runs, entry))
        with suppress(FileNotFoundError):
            os.unlink(os.path.join(runs, f"{run_id}.lock"))   # free: the run is gone
    return removed


def _record_path(state_dir: str, run_id: str) -> str:
    return os.path.join(state_dir, "runs", f"{run_id}.temps")


def remove_stale(files: Any, state_dir: str, targets: list[str]) -> int:
    """Delete the temporary files and folders of dead runs beside `targets` (those no pending
    journal names); how many."""
    pending = _pending_paths(files, state_dir)
    removed = 0
    for folder, names in _by_folder(files, targets).items():
        for entry in files.list(folder):
            match = _TEMP_NAME.match(entry)
            path = files.join(folder, entry)
            if (match and match.group("name") in names and path not in pending
                    and not run_is_alive(state_dir, match.group("run"))):
                files.remove(path)
                removed += 1
    runs = os.path.join(state_dir, "runs")
    for entry in LocalFiles().list(runs):
        if entry.endswith(".lock") and not run_is_alive(state_dir, entry[:-5]):
            LocalFiles().remove(os.path.join(runs, entry))
    return removed


def _pending_paths(files: Any, state_dir: str) -> set[str]:
    """Every path a commit journal still names: the recovery of that commit needs it."""
    pending = set()
    for journal in _journals(files, state_dir):
        pending.update(path for entry in journal.get("entries", []) for path in entry.values() if path)
        pending.update(journal.get("scratch", []))
    return pending


def _journals(files: Any, state_dir: str) -> list[dict[str, Any]]:
    folder = files.join(state_dir, "commits")
    found = []
    for name in files.list(folder):
        try:
            found.append(json.loads(files.read_text(files.join(folder, name)) or ""))
        except ValueError:
            continue
    return found


def _by_folder(files: Any, targets: list[str]) -> dict[str, set[str]]:
    folders: dict[str, set[str]] = {}
    for target in targets:
        folder, name = files.split(target)
        folders.setdefault(folder, set()).add(name)
    return folders


# ------------------------------------------------------------------ signals during a commit
@contextmanager
def signals_deferred() -> Iterator[list[int]]:
    """Hold SIGINT and SIGTERM back while the block runs (a commit takes milliseconds); the
    caller finds the signals that arrived in the yielded list. Only the main thread can do this;
    elsewhere the block runs as it is."""
    arrived: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield arrived
        return
    wanted = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda number, frame: arrived.append(number)) for s in wanted}
    try:
        yield arrived
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
