"""The sandbox's stand-ins started from a fork server: each command is still a process of its own.

A stand-in (``netsh``, ``sc``, ``reg``, ``Octopus.Server`` in ``<sandbox>/bin``) is a sh wrapper that starts
Python without site and imports its module: ≈ 30 ms of CPU before it reads its first word, and a run starts
a dozen of them or more (the test suite ≈ 3,000). A process that opens a sandbox as a target (a kernel, a
run, a test) starts one fork server the first time it runs a stand-in: Python started as the wrappers start
it, with the four modules imported. For each command the server forks a child, which takes the caller's
stdin, stdout and stderr (handed over the socket), working folder, umask and environment, runs the module's
``main`` with the wrapper's arguments, and exits with its code. A child costs ≈ 3 ms before its first word.

What stays as it was: the command seam records the wrapper's argv and its exit code; the caller waits on
the child with the command's timeout and kills it after; the child is in the caller's process group, so
``kill -9`` of that group (an operator's, or ``kernel_watch``'s) takes it along; its output is read through
pipes, never a file. What the server does not do is decide anything: it runs one of four modules, named by
the caller, and reports the child's pid and exit status.

Used only where running the wrapper would run exactly that: argv[0] is an executable file named like a
stand-in, in a ``bin`` folder, whose text is byte for byte what this interpreter writes there
(:func:`.stand_ins.wrapper_text`). Any other file — a wrapper someone edited, one written by another
interpreter, a missing one — runs as a file, through subprocess. The server is private to the process that
started it (a socket pair: no file, no name); it ends when that process ends and the socket closes. Where
the environment a Python process starts from differs (``PYTHON*``, ``LANG``, ``LC_*``: the import path, the
encoding of its output), another server starts, so a child is the process the wrapper would have started.
Linux only (``SOCK_SEQPACKET`` and descriptors passed over it); elsewhere, or with
``OCTORUNBOOK_SANDBOX_FORK=0`` in the environment, every stand-in runs through its wrapper.
"""

from __future__ import annotations

import os
import sys
import threading

from .stand_ins import STAND_INS

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (the server starts without it)
if TYPE_CHECKING:
    import socket
    import subprocess
    from collections.abc import Callable
    from typing import Any, NoReturn

MODULES = tuple(STAND_INS.values())  # the stand-ins' modules
SWITCH = "OCTORUNBOOK_SANDBOX_FORK"  # "0": every stand-in through its wrapper
REQUEST_LIMIT = 1 << 20  # argv, environment, folder: far below this
# what decides how a Python process starts: its import path, flags, and the encoding of its output
_STARTUP_PREFIXES = ("PYTHON", "LC_")
_STARTUP_NAMES = ("LANG", "LANGUAGE")


# -- the server (started without site, with the socket's descriptor as its one argument) ----------------
def main() -> int:
    import socket
    from importlib import import_module

    mains = {module: import_module(f"{__package__}.{module}").main for module in MODULES}
    server = socket.socket(fileno=int(sys.argv[1]))
    while True:
        try:
            data, fds, flags, _ = socket.recv_fds(server, REQUEST_LIMIT, 3)
        except OSError:
            return 0
        if not data:  # the process that started this server has ended
            return 0
        try:
            request = _request(data, fds, flags)
        except ValueError as exc:
            _close(fds)
            if not _reply(server, {"error": str(exc)}):
                return 0
            continue
        pid = os.fork()
        if pid == 0:
            _child(server, fds, mains[request["module"]], request)
        _close(fds)
        if not _reply(server, {"pid": pid}):
            os.waitpid(pid, 0)
            return 0
        _, status = os.waitpid(pid, 0)
        if not _reply(server, {"exit": os.waitstatus_to_exitcode(status)}):
            return 0


def _request(data: bytes, fds: list[int], flags: int) -> dict[str, Any]:
    import json
    import socket

    if flags & socket.MSG_TRUNC or flags & socket.MSG_CTRUNC or len(fds) != 3:
        raise ValueError("a request with three descriptors and at most 1 MiB")
    request: dict[str, Any] = json.loads(data)
    ok = (
        isinstance(request, dict)
        and request.get("module") in MODULES
        and isinstance(request.get("args"), list)
        and all(isinstance(a, str) for a in request["args"])
        and isinstance(request.get("env"), dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in request["env"].items())
        and isinstance(request.get("cwd"), str)
        and isinstance(request.get("umask"), int)
    )
    if not ok:
        raise ValueError("a request names a stand-in, its arguments, environment, folder and umask")
    return request


def _reply(server: socket.socket, message: dict[str, Any]) -> bool:
    import json

    try:
        server.send(json.dumps(message).encode())
    except OSError:  # the caller has ended
        return False
    return True


def _close(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _child(
    server: socket.socket, fds: list[int], main: Callable[[], Any], request: dict[str, Any]
) -> NoReturn:
    """The command: the caller's descriptors, folder, umask and environment, then the module's main() as
    ``sys.exit(main())`` in the wrapper. Never returns."""
    code: Any = 1
    try:
        server.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        _close([fd for fd in fds if fd > 2])
        os.chdir(request["cwd"])
        os.umask(request["umask"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["-c", *request["args"]]
        code = main()
    except SystemExit as exc:
        code = exc.code
    except BaseException:  # as Python does with an exception nothing caught: the traceback, exit 1
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        os._exit(_exit_code(code))


def _exit_code(code: Any) -> int:
    """What ``sys.exit(code)`` exits with; a message goes to stderr first. Output is flushed."""
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed pipe: nothing more to write
            code = code or 120  # as Python exits when it cannot flush its output at exit
    return int(code or 0) & 0xFF


# -- the caller's side -----------------------------------------------------------------------------------
def launch(argv: tuple[str, ...], env: dict[str, str], timeout: float) -> tuple[int, bytes, bytes] | None:
    """A launcher for the command seam (``commands.add_launcher``): runs a stand-in of this interpreter
    from the fork server; None for any other command, or when the server cannot start it."""
    if os.environ.get(SWITCH) == "0" or not argv:
        return None
    found = _stand_in(argv[0])
    if found is None:
        return None
    module, root = found
    try:
        cwd, umask = os.getcwd(), _umask()
    except OSError:  # the folder the caller runs in is gone: let subprocess say so
        return None
    server = _server_for(env)
    if server is None:
        return None
    if not server.lock.acquire(blocking=False):  # another thread's command is running on it
        return None
    try:
        request = {"module": module, "args": ["--sandbox-dir", root, *argv[1:]], "env": env, "cwd": cwd}
        return server.run({**request, "umask": umask}, argv, timeout)
    finally:
        server.lock.release()


def enable() -> None:
    """Let the command seam start this interpreter's stand-ins from a fork server (Linux)."""
    import socket

    if sys.platform.startswith("linux") and hasattr(socket, "send_fds"):
        from ...commands import add_launcher

        add_launcher(launch)


def _stand_in(path: str) -> tuple[str, str] | None:
    """(module, sandbox folder) when ``path`` is a stand-in as this interpreter writes it, else None."""
    import stat
    from pathlib import Path

    from .stand_ins import wrapper_text

    absolute = os.path.abspath(path)
    name, bin_dir = os.path.basename(absolute), os.path.dirname(absolute)
    if name not in STAND_INS or os.path.basename(bin_dir) != "bin":
        return None
    root = Path(os.path.dirname(bin_dir))
    try:
        expected = wrapper_text(root, name).encode()
        # O_NONBLOCK: a FIFO planted there must not hold the caller; only a regular file is read
        fd = os.open(absolute, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            regular = stat.S_ISREG(os.fstat(fd).st_mode)
            text = os.read(fd, len(expected) + 1) if regular else b""
        finally:
            os.close(fd)
    except Exception:  # missing, unreadable, or a folder name no wrapper can carry: subprocess says so
        return None
    if not regular or text != expected or not os.access(absolute, os.X_OK):
        return None
    return STAND_INS[name], str(root.resolve())


def _umask() -> int:
    """This process's umask, read without changing it (other threads may be creating files)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    raise OSError("no Umask in /proc/self/status")


_servers: dict[tuple[int, tuple[tuple[str, str], ...]], _Server] = {}
_GUARD = threading.Lock()


def _server_for(env: dict[str, str]) -> _Server | None:
    key = (
        os.getpid(),  # a forked caller starts its own: the socket is its parent's
        tuple(
            sorted((k, v) for k, v in env.items() if k.startswith(_STARTUP_PREFIXES) or k in _STARTUP_NAMES)
        ),
    )
    with _GUARD:
        server = _servers.get(key)
        if server is not None and server.alive() and not server.broken:
            return server
        if server is not None:
            server.close()
        if len(_servers) >= 4:  # an environment that keeps changing: no server for each
            return None
        try:
            server = _Server(env)
        except OSError:
            return None
        if not _servers:
            import atexit

            atexit.register(_close_all)  # the servers end with this process, not a moment after it
        _servers[key] = server
        return server


def _close_all() -> None:
    with _GUARD:
        for key, server in list(_servers.items()):
            if key[0] == os.getpid():  # a forked copy of this process leaves its parent's servers alone
                server.close()
            del _servers[key]


class _Server:
    """One fork server, and the socket to it."""

    def __init__(self, env: dict[str, str]) -> None:
        import socket
        import subprocess

        from ...commands import child_environment
        from .stand_ins import without_site

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            try:
                self.process: subprocess.Popen[bytes] = subprocess.Popen(
                    [*without_site("forkserver"), str(theirs.fileno())],
                    pass_fds=[theirs.fileno()],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env=child_environment(env),  # the command's, less any secret it was handed
                )
            except OSError:
                ours.close()
                raise
        self.socket = ours
        self.lock = threading.Lock()
        self.broken = False

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        self.socket.close()
        try:
            self.process.wait(timeout=2)
        except Exception:
            self.process.kill()
            self.process.wait()

    def run(
        self, request: dict[str, Any], argv: tuple[str, ...], timeout: float
    ) -> tuple[int, bytes, bytes] | None:
        """The child's (exit code, stdout, stderr); None when the server started nothing. After anything but
        a plain answer (a timeout, the server gone or silent) this server is not used again."""
        import json
        import socket
        import subprocess

        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        null = os.open(os.devnull, os.O_RDONLY)
        try:
            socket.send_fds(self.socket, [json.dumps(request).encode()], [null, out_w, err_w])
        except OSError:  # the server has ended: nothing started
            self.broken = True
            _close([out_r, err_r])
            return None
        finally:
            _close([null, out_w, err_w])
        try:
            outcome, code, out, err = self._wait(out_r, err_r, timeout)
        finally:
            _close([out_r, err_r])
        if outcome == "exited" and code is not None:
            return code, out, err
        self.broken = True
        if outcome == "not started":  # refused, or ended before it forked: nothing ran
            return None
        if outcome == "silent":  # no answer within the timeout: it must not start the command later
            self.process.kill()
        raise subprocess.TimeoutExpired(list(argv), timeout, out, err)

    def _wait(self, out_r: int, err_r: int, timeout: float) -> tuple[str, int | None, bytes, bytes]:
        """Read the child's output and the server's answers until the child has exited and its output is
        read ("exited"); at the timeout the child is killed and its exit awaited, not its output ("killed").
        "not started": the server refused the request or ended first; "silent": it never answered."""
        import json
        import selectors
        import signal
        import time

        chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
        pid: int | None = None
        code: int | None = None
        deadline = time.monotonic() + timeout
        killed = False
        outcome = ""
        with selectors.DefaultSelector() as selector:
            for fd in (out_r, err_r, self.socket.fileno()):
                selector.register(fd, selectors.EVENT_READ)
            while not outcome:
                pipes_open = out_r in selector.get_map() or err_r in selector.get_map()
                if code is not None and (killed or not pipes_open):
                    outcome = "killed" if killed else "exited"
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    if pid is None:
                        outcome = "silent"
                    elif killed:  # a child that does not die within 10 s of SIGKILL
                        outcome = "killed"
                    else:
                        try:
                            os.kill(pid, signal.SIGKILL)  # not reaped yet: the server is waiting on it
                        except ProcessLookupError:
                            pass
                        killed, deadline = True, time.monotonic() + 10
                    continue
                for key, _ in selector.select(left):
                    if key.fd != self.socket.fileno():
                        chunk = os.read(key.fd, 65536)
                        if chunk:
                            chunks[key.fd].append(chunk)
                        else:
                            selector.unregister(key.fd)
                        continue
                    data = self.socket.recv(4096)
                    if not data:  # the server has ended; a child it started went with it (one group)
                        selector.unregister(key.fd)
                        if pid is None:
                            outcome = "not started"
                        elif code is None:
                            code = -signal.SIGKILL
                        continue
                    message = json.loads(data)
                    if "error" in message:
                        outcome = "not started"
                    pid = message.get("pid", pid)
                    code = message.get("exit", code)
        return outcome, code, b"".join(chunks[out_r]), b"".join(chunks[err_r])


__all__ = ["MODULES", "SWITCH", "enable", "launch", "main"]
