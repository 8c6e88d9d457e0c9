"""Run a submission's functions in a locked-down child process, and call them from the grader.

Homework (book/homework.md). The grader (the parent) starts this file as a script: ``python -I``
(isolated mode: no environment variables, no user site, not even this file's folder on
``sys.path``), a cleared environment, an empty temporary working folder and a process group of its
own. The child then, before it reads any submitted code:

1. sets resource limits (CPU seconds, address space, file size, no core dumps; processes when root);
2. imports what the lecture functions use (``np``, ``torch``, ``F``, ``nn``, ``math``, ``ndimage``) and
   warms up what torch imports lazily (pickling, printing tensors), without importing labkit;
3. where the kernel has Landlock (Linux 5.13+), restricts itself for good: read-only access to the
   Python installation (site-packages without labkit) and the system libraries, full access to its
   working folder only, no TCP, no signals or abstract sockets outside itself (Landlock ABI 4 and 6);
4. when started as root, becomes the user ``nobody`` (a Python installed where nobody cannot read,
   such as under /root, then offers only the modules imported in step 2).

With Landlock, a submission can neither read the hidden cases, the solutions or labkit's references,
nor delete anything but its own working folder; without it, only the user nobody (as root) keeps it
from deleting the grader's files, and nothing keeps it from reading world-readable ones.

The child gets a function's name and arguments (pickled) and answers with the result in a plain
encoding that the grader decodes without running code (:func:`decode`): references, comparisons and
expected answers stay in the grader. The grader kills the child's process group when a call runs
past its time limit.
"""
from __future__ import annotations

import __future__
import ctypes
import io
import json
import linecache
import math
import os
import pickle
import resource
import select
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

STARTUP_SECONDS = 180.0         # imports and sandboxing, on a busy machine
MEMORY_BYTES = 4 << 30          # address space of the child
MAX_MESSAGE_BYTES = 256 << 20   # a larger reply is refused rather than read
NOBODY = 65534

PREAMBLE = """\
import math
import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn
"""
_TAG = "\x00labkit-sandbox"  # marks an encoded array, tensor or opaque object in a reply


class ChildTimeout(BaseException):
    """The child ran past its time limit (a BaseException, so that run_check lets it through)."""


class ChildDied(BaseException):
    """The child exited, or broke the protocol, in the middle of a call."""


# ---------------------------------------------------------------------------------------------
# Messages: length-prefixed pickles over two pipes
# ---------------------------------------------------------------------------------------------

def _send(fd: int, message: Any, deadline: float | None = None) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    data = struct.pack(">Q", len(data)) + data
    while data:
        if deadline is not None:  # the parent never blocks on a child that stopped reading
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                raise ChildTimeout
        try:
            data = data[os.write(fd, data[:1 << 16]):]
        except BlockingIOError:
            continue
        except BrokenPipeError:
            raise ChildDied("the child closed its end") from None


def _receive_bytes(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise ChildTimeout
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise ChildDied("the child exited")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


class _NoGlobals(pickle.Unpickler):
    """Unpickles only plain data (numbers, strings, bytes, lists, tuples, dicts, sets): a reply
    cannot make the grader import or call anything."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("builtins", "complex"):
            return complex
        raise pickle.UnpicklingError(f"a reply may not contain {module}.{name}")


def _receive(fd: int, deadline: float | None, *, trusted: bool) -> Any:
    (n,) = struct.unpack(">Q", _receive_bytes(fd, 8, deadline))
    if n > MAX_MESSAGE_BYTES:
        raise ChildDied(f"a reply of {n} bytes is over the limit of {MAX_MESSAGE_BYTES}")
    data = _receive_bytes(fd, n, deadline)
    if trusted:  # the child reading the grader's requests
        return pickle.loads(data)
    try:
        return _NoGlobals(io.BytesIO(data)).load()
    except Exception as err:
        raise ChildDied(f"the child sent an unreadable reply ({type(err).__name__}: {err})") from None


# ---------------------------------------------------------------------------------------------
# Results: encoded by the child as plain data, decoded by the grader
# ---------------------------------------------------------------------------------------------

_NUMERIC_KINDS = "biufc"


def encode(value: Any, depth: int = 0) -> Any:
    """``value`` as plain data: arrays, tensors and NumPy scalars become tagged tuples of bytes,
    containers are encoded item by item, anything else unknown becomes its type name and repr."""
    if depth > 50:
        return (_TAG, "opaque", "deeply nested object", "")
    if value is None or type(value) in (bool, int, float, complex, str, bytes):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in _NUMERIC_KINDS:
        return (_TAG, "scalar", value.dtype.str, value.tobytes())
    if isinstance(value, np.ndarray) and value.dtype.kind in _NUMERIC_KINDS:
        return (_TAG, "ndarray", value.dtype.str, value.shape, np.ascontiguousarray(value).tobytes())
    if isinstance(value, torch.Tensor):
        try:
            t = value.detach().cpu().resolve_conj().resolve_neg()
            array = (t.float() if t.dtype == torch.bfloat16 else t).numpy()
            return (_TAG, "tensor", str(t.dtype).removeprefix("torch."), array.dtype.str, tuple(t.shape),
                    np.ascontiguousarray(array).tobytes(), bool(value.requires_grad))
        except Exception:
            pass
    elif isinstance(value, (list, tuple)):  # named tuples and torch.Size become plain tuples
        items = [encode(v, depth + 1) for v in value]
        return items if isinstance(value, list) else tuple(items)
    elif isinstance(value, dict):
        return {k if type(k) in (int, float, str, bool) else repr(k): encode(v, depth + 1) for k, v in value.items()}
    try:
        text = repr(value)[:200]
    except Exception:
        text = "?"
    return (_TAG, "opaque", type(value).__name__, text)


class Opaque:
    """A result of a type the grader does not rebuild; compares unequal to everything."""

    def __init__(self, type_name: str, text: str) -> None:
        self.type_name, self.text = type_name, text

    def __repr__(self) -> str:
        return f"<{self.type_name} {self.text}>"


def decode(value: Any) -> Any:
    """Inverse of :func:`encode`, for plain data from :class:`_NoGlobals`; ValueError if malformed."""
    if isinstance(value, tuple) and len(value) >= 2 and value[0] == _TAG:
        kind = value[1]
        if kind == "opaque":
            return Opaque(str(value[2]), str(value[3]))
        if kind == "scalar":
            return np.frombuffer(value[3], dtype=_dtype(value[2]), count=1)[0]
        if kind == "ndarray":
            return np.frombuffer(value[4], dtype=_dtype(value[2])).reshape(value[3]).copy()
        if kind == "tensor":
            dtype = getattr(torch, value[2], None)
            if not isinstance(dtype, torch.dtype):
                raise ValueError(f"unknown tensor dtype {value[2]!r}")
            array = np.frombuffer(value[5], dtype=_dtype(value[3])).reshape(value[4]).copy()
            tensor = torch.from_numpy(array).to(dtype)
            return tensor.requires_grad_() if value[6] and (tensor.is_floating_point() or tensor.is_complex()) \
                else tensor
        raise ValueError(f"unknown tag {kind!r}")
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, tuple):
        return tuple(decode(v) for v in value)
    if isinstance(value, dict):
        return {k: decode(v) for k, v in value.items()}
    return value


def _dtype(text: str) -> np.dtype:
    dtype = np.dtype(text)
    if dtype.kind not in _NUMERIC_KINDS:
        raise ValueError(f"refused dtype {text!r}")
    return dtype


# ---------------------------------------------------------------------------------------------
# The child: limits, Landlock, nobody, then serve calls
# ---------------------------------------------------------------------------------------------

_FS_READ = 0b1101            # EXECUTE | READ_FILE | READ_DIR
_FS_FILE_RIGHTS = 0b1100_0000_0000_0111  # EXECUTE, WRITE_FILE, READ_FILE, TRUNCATE, IOCTL_DEV
_FS_ALL = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}  # ABI 5 on: 16 rights


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _readable_roots() -> list[str]:
    """What the sandbox may read: the standard library, site-packages without labkit, system libraries.

    Folders are listed entry by entry, so that labkit (installed, or its editable finder) stays out.
    """
    import site
    import sysconfig

    packages = {*site.getsitepackages(), sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    # System libraries, but not all of /usr: /usr/local may hold a Python whose site-packages has labkit.
    roots = {"/lib", "/lib64", "/usr/lib", "/usr/lib64", "/dev/null", "/dev/urandom"}
    for folder in {sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib"), *packages}:
        if folder and os.path.isdir(folder):
            roots |= {e.path for e in os.scandir(folder)
                      if "labkit" not in e.name.lower() and e.name not in ("site-packages", "dist-packages")}
    return sorted(r for r in roots if os.path.exists(r))


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def landlock_abi() -> int:
    """The Landlock ABI version this kernel offers (1 or more), 0 where there is none."""
    if not sys.platform.startswith("linux"):
        return 0
    abi = _libc().syscall(ctypes.c_long(444), None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # create_ruleset: ABI
    return max(int(abi), 0)


def _landlock(workdir: str) -> int:
    """Restrict this process's file access (and TCP, signals) for good; the ABI used, 0 if none."""
    abi = landlock_abi()
    if abi < 1:
        return 0
    libc = _libc()
    syscall = libc.syscall
    fs_all = _FS_ALL.get(abi, (1 << 16) - 1)
    attr = _RulesetAttr(fs_all, 0b11 if abi >= 4 else 0, 0b11 if abi >= 6 else 0)  # all TCP; signals, sockets
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = syscall(ctypes.c_long(444), ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    for path, rights in [*((r, _FS_READ) for r in _readable_roots()), (workdir, fs_all)]:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        if not os.path.isdir(path):
            rights &= _FS_FILE_RIGHTS
        rule = _PathBeneathAttr(rights & fs_all, fd)
        if syscall(ctypes.c_long(445), ctypes.c_int(ruleset), ctypes.c_int(1), ctypes.byref(rule),
                   ctypes.c_uint32(0)) < 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
        os.close(fd)
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS, required to restrict oneself
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if syscall(ctypes.c_long(446), ctypes.c_int(ruleset), ctypes.c_uint32(0)) < 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    os.close(ruleset)
    return abi


def _warm_up() -> None:
    """Exercise what torch and numpy import lazily, while the imports are still possible."""
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Linear(2, 2))
    loss = sum(p.abs().sum() for p in model.parameters())
    loss.backward()
    # An optimiser step (lecture 5's U-Net exercise trains): torch.optim imports cProfile lazily.
    for optimiser in (torch.optim.Adam, torch.optim.SGD):
        optimiser(model.parameters(), lr=0.0).step()
    pickle.loads(pickle.dumps((model, torch.ones(2, 2), torch.zeros(0, 4), np.ones(3), np.float64(1))))
    for value in (torch.ones(2, dtype=torch.float64, requires_grad=True) * 2, torch.ones(2, 2, dtype=torch.bool),
                  np.ones((2, 2)), model, np.float32(1.5)):
        repr(value), str(value)
    import collections, copy, dataclasses, fractions, functools, heapq, itertools, operator, random, statistics  # noqa


def _limit(kind: int, value: int) -> bool:
    """Set soft and hard limit ``kind`` to ``value``; False where the system refuses (macOS: memory)."""
    try:
        resource.setrlimit(kind, (value, value))
        return True
    except (ValueError, OSError):
        return False


def _serve(config: dict) -> None:
    """The child's main loop: set up the sandbox, then define and call functions on request."""
    cpu, memory = int(config["cpu_seconds"]), int(config["memory_bytes"])
    limits = [f"{memory / 2**30:g} GiB of memory" if _limit(resource.RLIMIT_AS, memory) else "no memory limit",
              f"{cpu} s of CPU" if _limit(resource.RLIMIT_CPU, cpu) else "no CPU limit"]
    _limit(resource.RLIMIT_FSIZE, 64 << 20)
    _limit(resource.RLIMIT_CORE, 0)
    requests, replies = os.dup(0), os.dup(1)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)  # what the submission prints goes to the log, not into the replies
    sys.stdout.reconfigure(line_buffering=True)
    for fd in (requests, replies):
        os.set_inheritable(fd, False)

    namespace: dict[str, Any] = {"__name__": "__submission__"}
    exec(PREAMBLE, namespace)
    _warm_up()
    abi = _landlock(os.getcwd())
    isolation = [f"Landlock ABI {abi} (reads the Python installation, writes its working folder only)" if abi
                 else "no Landlock: it can read and write what the user can"]
    if os.geteuid() == 0:
        _limit(resource.RLIMIT_NPROC, 128)  # counted for nobody, whom root is about to become
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        isolation.append("user nobody")
    else:
        isolation.append(f"the grader's user {os.geteuid()} (run as root to switch to nobody)")
    isolation += limits
    _send(replies, ("ready", ", ".join(isolation)))

    while True:
        try:
            message = _receive(requests, None, trusted=True)
        except ChildDied:
            return  # the grader closed the pipe: done
        if message[0] == "define":
            errors = []
            for k, source in enumerate(message[1]):
                filename, source = f"<submission {k}>", textwrap.dedent(source)  # a def indented in its cell
                linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
                try:  # annotations are not evaluated: a hint such as `Tensor` needs no import
                    exec(compile(source, filename, "exec", __future__.annotations.compiler_flag, dont_inherit=True),
                         namespace)
                    errors.append(None)
                except BaseException as err:
                    errors.append(f"{type(err).__name__}: {err}")
            _send(replies, ("defined", errors))
        else:
            _, name, args, kwargs = message
            try:
                if not callable(namespace.get(name)):
                    raise NameError(f"the submission does not define a function {name!r}")
                reply: tuple = ("returned", encode(namespace[name](*args, **kwargs)))
            except BaseException as err:  # SystemExit and KeyboardInterrupt too: reported, not obeyed
                frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename.startswith("<submission")]
                where = (f"\n   at line {frames[-1].lineno} in {frames[-1].name}"
                         f"{': ' + frames[-1].line.strip() if frames[-1].line else ''}") if frames else ""
                reply = ("raised", type(err).__name__, str(err)[:1000], where)
            _send(replies, reply)


# ---------------------------------------------------------------------------------------------
# The grader's side
# ---------------------------------------------------------------------------------------------

def _exception(type_name: str, text: str, where: str) -> Exception:
    """An exception standing for one raised in the child, with its type name and its line there."""
    import builtins

    cls = getattr(builtins, type_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        cls = type(type_name, (Exception,), {})  # e.g. SystemExit or a class the submission defined
    try:
        err = cls(text)
    except Exception:
        err = type(type_name, (Exception,), {})(text)
    err.labkit_where = where  # run_check shows the submission's line, not the grader's
    return err


class Child:
    """One sandboxed child that holds a submission's functions; :meth:`function` gives proxies.

    Homework (book/homework.md). Each :meth:`call` must finish by ``self.deadline`` (set it with
    :meth:`time_limit`), or :class:`ChildTimeout` is raised; use it as a context manager so that the
    child's whole process group is killed on exit.
    """

    def __init__(self, sources: list[str], folder: Path, *, cpu_seconds: float,
                 memory_bytes: int = MEMORY_BYTES, define_seconds: float = 20.0) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="child-", dir=folder))
        self.log_path = self.workdir.with_suffix(".log")
        if os.geteuid() == 0:
            os.chown(self.workdir, NOBODY, NOBODY)
        config = {"cpu_seconds": max(1, math.ceil(cpu_seconds)), "memory_bytes": memory_bytes}
        env = {"HOME": str(self.workdir), "TMPDIR": str(self.workdir), "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "LC_ALL": "C.UTF-8"}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-I", str(Path(__file__).resolve()), json.dumps(config)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, cwd=self.workdir, env=env,
                start_new_session=True)
        self._requests, self._replies = self.process.stdin.fileno(), self.process.stdout.fileno()
        os.set_blocking(self._requests, False)
        self.deadline = time.monotonic() + STARTUP_SECONDS
        try:
            ready = _receive(self._replies, self.deadline, trusted=False)
            if not (isinstance(ready, tuple) and len(ready) == 2 and ready[0] == "ready" and isinstance(ready[1], str)):
                raise ChildDied("it did not start properly")
            self.isolation: str = ready[1]
            self.deadline = time.monotonic() + define_seconds
            _send(self._requests, ("define", sources), self.deadline)
            defined = _receive(self._replies, self.deadline, trusted=False)  # after the submission's code ran
            if not (isinstance(defined, tuple) and len(defined) == 2 and isinstance(defined[1], list)
                    and len(defined[1]) == len(sources) and all(e is None or isinstance(e, str) for e in defined[1])):
                raise ChildDied("unexpected reply to the definitions")
            self.define_errors: list[str | None] = defined[1]
        except ChildDied as err:
            self.kill()
            raise ChildDied(f"{err}; its last output: {self.log_tail()}" if self.log_tail() else str(err)) from None
        except BaseException:
            self.kill()
            raise

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def log_tail(self, n: int = 400) -> str:
        """The end of what the child wrote to stderr (and what the submission printed)."""
        try:
            return self.log_path.read_bytes()[-n:].decode(errors="replace").strip()
        except OSError:
            return ""

    def time_limit(self, seconds: float) -> None:
        """Calls from now on must all be done within ``seconds``."""
        self.deadline = time.monotonic() + seconds

    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        """``name(*args, **kwargs)`` in the child: its result, or an exception like the one it raised."""
        _send(self._requests, ("call", name, args, kwargs), self.deadline)
        reply = _receive(self._replies, self.deadline, trusted=False)
        if isinstance(reply, tuple) and len(reply) == 2 and reply[0] == "returned":
            try:
                return decode(reply[1])
            except Exception as err:
                raise ValueError(f"the grader could not read the result back ({err})") from None
        if isinstance(reply, tuple) and len(reply) == 4 and reply[0] == "raised" and \
                all(isinstance(part, str) for part in reply[1:]):
            raise _exception(*reply[1:])
        raise ChildDied("unexpected reply to a call")

    def function(self, name: str) -> Callable[..., Any]:
        """A local stand-in for the submission's function ``name``, to give to a check."""
        def submitted(*args: Any, **kwargs: Any) -> Any:
            return self.call(name, args, kwargs)

        submitted.__name__ = submitted.__qualname__ = name
        return submitted

    def kill(self) -> None:
        """Kill the child's whole process group (it and anything it started) and wait for it."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass


if __name__ == "__main__":
    _serve(json.loads(sys.argv[1]))
