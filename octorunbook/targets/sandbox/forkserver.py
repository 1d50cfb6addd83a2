"""The sandbox's stand-ins started from a fork server: each command is still a process of its own.

A stand-in (``netsh``, ``sc``, ``reg``, ``Octopus.Server`` in ``<sandbox>/bin``) is a sh wrapper that starts
Python without site and imports its module: ≈ 30 ms of CPU before it reads its first word, and a run starts
a dozen of them or more (the test suite ≈ 3,000). A process that opens a sandbox as a target (a kernel, a
run, a test) starts one fork server the first time it runs a stand-in: Python started as the wrappers start
it, with the four modules imported. For each command the server forks a child, which takes the caller's
stdin, stdout, stderr and working folder (descriptors handed over the socket), umask and environment, runs
the module's ``main`` with the wrapper's arguments, and exits with its code.

What stays as it was: the command seam records the wrapper's argv and its exit code; the caller waits on
the child with the command's timeout, and kills it after (or when the caller is interrupted); the child is
in the caller's process group, so ``kill -9`` of that group (an operator's, or ``kernel_watch``'s) takes it
along; its output is read through pipes, never a file. The child dies with the server
(``PR_SET_PDEATHSIG``), and the server with the process that started it (the socket closes). When the
server ends without saying how a command it started ended, the caller reports that (``COMMAND_LOST``) and
never runs the command a second time; a command goes to subprocess instead only when the server refused
it, or was gone before it was asked.

Used only where running the wrapper would run exactly that: argv[0] is a path (not a bare name) whose
real path is an executable regular file named like a stand-in, in a ``bin`` folder, whose text is byte
for byte what this interpreter writes there (:func:`.stand_ins.wrapper_text`). Any other file — a wrapper
someone edited, one written by another interpreter, a link out of the sandbox, a device — runs as a file,
through subprocess. The server is private to the process that started it (a socket pair: no file, no name;
a forked copy of the caller closes its copy). Its environment is a daemon's (no password, whatever the
variable is called) plus what decides how Python starts (``PYTHON*``, ``LANG``, ``LC_*``, ``TZ``);
where those differ, another server starts. Linux only; elsewhere, or with ``OCTORUNBOOK_SANDBOX_FORK=0``
in the environment, every stand-in runs through its wrapper.
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
    from collections.abc import Callable, Mapping
    from typing import Any, NoReturn

MODULES = tuple(STAND_INS.values())  # the stand-ins' modules
SWITCH = "OCTORUNBOOK_SANDBOX_FORK"  # "0": every stand-in through its wrapper
REQUEST_LIMIT = 1 << 20  # argv and environment: far below this
READY_SECONDS = 30.0  # a server not ready by then (a machine under load) is not used
# what decides how a Python process starts and what it prints: its import path, flags, output encoding,
# local time; and the crash campaign's marks (tests find what a killed run left behind by them)
_STARTUP_PREFIXES = ("PYTHON", "LC_", "OCTORUNBOOK_CRASH_")
_STARTUP_NAMES = ("LANG", "LANGUAGE", "TZ")
_PR_SET_PDEATHSIG = 1


# -- the server (started without site, with the socket's descriptor as its one argument) ----------------
def main() -> int:
    import ctypes
    import socket
    from importlib import import_module

    mains = {module: import_module(f"{__package__}.{module}").main for module in MODULES}
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    server = socket.socket(fileno=int(sys.argv[1]))
    me = os.getpid()
    if not _reply(server, {"ready": me}):
        return 0
    while True:
        try:
            data, fds, flags, _ = socket.recv_fds(server, REQUEST_LIMIT, 4)
        except OSError:
            return 0
        if not data:  # the process that started this server has ended
            _close(fds)
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
            _child(server, fds, mains[request["module"]], request, prctl, me)
        _close(fds)
        sent = _reply(server, {"pid": pid})
        _, status = os.waitpid(pid, 0)
        if not sent or not _reply(server, {"pid": pid, "exit": os.waitstatus_to_exitcode(status)}):
            return 0


def _request(data: bytes, fds: list[int], flags: int) -> dict[str, Any]:
    import json
    import socket

    if flags & socket.MSG_TRUNC or flags & socket.MSG_CTRUNC or len(fds) != 4:
        raise ValueError("a request with four descriptors and at most 1 MiB")
    request: dict[str, Any] = json.loads(data)
    ok = (
        isinstance(request, dict)
        and request.get("module") in MODULES
        and isinstance(request.get("args"), list)
        and all(isinstance(a, str) for a in request["args"])
        and isinstance(request.get("env"), dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in request["env"].items())
        and isinstance(request.get("umask"), int)
    )
    if not ok:
        raise ValueError("a request names a stand-in, its arguments, environment and umask")
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


def _die_with_server(prctl: Any, server: int) -> None:
    """The child is killed when the server ends: nothing it does goes unreported to the caller."""
    import signal

    prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if os.getppid() != server:  # the server ended before the line above
        os._exit(128 + int(signal.SIGKILL))


def _child(
    server: socket.socket,
    fds: list[int],
    main: Callable[[], Any],
    request: dict[str, Any],
    prctl: Any,
    server_pid: int,
) -> NoReturn:
    """The command: the caller's stdin, stdout, stderr and folder, umask and environment, then the
    module's main() as ``sys.exit(main())`` in the wrapper. Never returns."""
    import signal

    code: Any = 1
    try:
        _die_with_server(prctl, server_pid)
        server.close()
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        os.fchdir(fds[3])  # a descriptor: a folder whose path is too long for chdir, or was removed
        _close([fd for fd in fds if fd > 2])
        os.umask(request["umask"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["-c", *request["args"]]
        code = main()
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:  # as Python ends on an interrupt nothing caught: by the signal itself
        _flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except BaseException:  # as Python does with an exception nothing caught: the traceback, exit 1
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        os._exit(_exit_code(code))


def _flush() -> bool:
    flushed = True
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed pipe: nothing more to write
            flushed = False
    return flushed


def _exit_code(code: Any) -> int:
    """What ``sys.exit(code)`` exits with; a message goes to stderr first. Output is flushed."""
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    if not _flush():
        code = code or 120  # as Python exits when it cannot flush its output at exit
    return int(code or 0) & 0xFF


# -- the caller's side -----------------------------------------------------------------------------------
def launch(argv: tuple[str, ...], env: dict[str, str], timeout: float) -> tuple[int, bytes, bytes] | None:
    """A launcher for the command seam (``commands.add_launcher``): runs a stand-in of this interpreter
    from the fork server; None for any other command, or when the server cannot take it."""
    if os.environ.get(SWITCH) == "0" or not argv:
        return None
    found = _stand_in(argv[0])
    if found is None:
        return None
    module, root = found
    server = _server_for(env)
    if server is None or not server.lock.acquire(blocking=False):  # busy: another thread's command
        return None
    try:
        request = {"module": module, "args": ["--sandbox-dir", root, *argv[1:]], "env": env}
        return server.run(request, argv, timeout)
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

    if "/" not in path:  # a bare name is looked up on PATH
        return None
    real = os.path.realpath(path)  # what exec would open: links and ".." resolved by the file system
    name, bin_dir = os.path.basename(real), os.path.dirname(real)
    if name not in STAND_INS or os.path.basename(bin_dir) != "bin":
        return None
    root = Path(os.path.dirname(bin_dir))
    try:
        if not stat.S_ISREG(os.stat(real).st_mode):  # a device or a FIFO is never opened
            return None
        expected = wrapper_text(root, name).encode()
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            regular = stat.S_ISREG(os.fstat(fd).st_mode)  # still, after the open
            text = os.read(fd, len(expected) + 1) if regular else b""
        finally:
            os.close(fd)
    except Exception:  # missing, unreadable, or a folder name no wrapper can carry: subprocess says so
        return None
    if not regular or text != expected or not os.access(real, os.X_OK):
        return None
    return STAND_INS[name], str(root.resolve())


def _umask() -> int:
    """This process's umask, read without changing it (other threads may be creating files)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    raise OSError("no Umask in /proc/self/status")


def _startup(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(_STARTUP_PREFIXES) or k in _STARTUP_NAMES}


_servers: dict[tuple[int, tuple[tuple[str, str], ...]], _Server] = {}
_GUARD = threading.Lock()


def _server_for(env: dict[str, str]) -> _Server | None:
    key = (os.getpid(), tuple(sorted(_startup(env).items())))
    with _GUARD:
        server = _servers.get(key)
        if server is not None and server.alive() and not server.broken:
            return server
        if server is not None:
            del _servers[key]
            server.close()
        if len(_servers) >= 4:  # an environment that keeps changing: not a server for each
            return None
        try:
            server = _Server(env)
        except OSError:  # it could not be started, or did not say it was ready
            return None
        if not _servers:
            import atexit

            atexit.register(_close_all)  # the servers end with this process, not a moment after it
        _servers[key] = server
        return server


def _close_all() -> None:
    with _GUARD:
        for server in _servers.values():
            server.close()
        _servers.clear()


def _forget_after_fork() -> None:
    """In a forked copy of the caller: its copies of the sockets are closed, so the servers still end
    when the caller does, and are never asked by two processes."""
    for server in _servers.values():
        server.socket.close()
    _servers.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


class _Server:
    """One fork server, and the socket to it."""

    def __init__(self, env: dict[str, str]) -> None:
        import json
        import select
        import socket
        import subprocess

        from ...commands import child_environment
        from .stand_ins import without_site

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        own = child_environment({**child_environment(env, daemon=True), **_startup(env)})  # no password
        with theirs:
            try:
                self.process: subprocess.Popen[bytes] = subprocess.Popen(
                    [*without_site("forkserver"), str(theirs.fileno())],
                    pass_fds=[theirs.fileno()],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env=own,
                )
            except OSError:
                ours.close()
                raise
        self.socket = ours
        self.lock = threading.Lock()
        self.broken = False
        ready, _, _ = select.select([ours], [], [], READY_SECONDS)
        message = ours.recv(4096) if ready else b""
        if not message or json.loads(message).get("ready") != self.process.pid:
            self.close()
            raise OSError("the fork server did not start")

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        self.broken = True
        self.socket.close()
        try:
            self.process.wait(timeout=2)
        except Exception:
            self.process.kill()
            self.process.wait()

    def run(
        self, request: dict[str, Any], argv: tuple[str, ...], timeout: float
    ) -> tuple[int, bytes, bytes] | None:
        """The child's (exit code, stdout, stderr); None when the server refused the command, or was gone
        before it was asked. After anything but a plain answer this server is not used again."""
        import json
        import socket
        import subprocess

        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        opened: list[int] = []
        try:
            opened.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
            opened.append(os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
            request = {**request, "umask": _umask()}
            socket.send_fds(self.socket, [json.dumps(request).encode()], [opened[0], out_w, err_w, opened[1]])
        except OSError:  # the server has ended, or the folder cannot be opened: nothing started
            self.broken = True
            _close([out_r, err_r])
            return None
        finally:
            _close([*opened, out_w, err_w])
        child: dict[str, int] = {}  # its pid once the server has started it, and its exit once it has ended
        try:
            outcome, code, out, err = self._wait(out_r, err_r, timeout, child)
        except (
            BaseException
        ):  # interrupted (KeyboardInterrupt from Jupyter): as subprocess.run, the child goes
            self.broken = True
            if "pid" in child and "exit" not in child:
                self._kill(child["pid"])
            raise
        finally:
            _close([out_r, err_r])
        if outcome == "exited" and code is not None:
            return code, out, err
        self.broken = True
        if outcome == "refused":
            return None
        if outcome == "lost":
            from ...commands import LaunchLost

            raise LaunchLost(f"the fork server of the sandbox's stand-ins ended while {argv[0]} ran")
        if outcome == "silent":  # no answer within the timeout: it must never start the command later
            self.process.kill()
        raise subprocess.TimeoutExpired(list(argv), timeout, out, err)

    def _kill(self, pid: int) -> None:
        """SIGKILL to a child the server has not reported as ended (so not reaped: its pid is still its)."""
        import signal

        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _wait(
        self, out_r: int, err_r: int, timeout: float, child: dict[str, int]
    ) -> tuple[str, int | None, bytes, bytes]:
        """Read the child's output and the server's answers until the child has exited and its output is
        read ("exited"); at the timeout a child still running is killed and its exit awaited, not its
        output ("timeout"). "refused": the server refused the request; "lost": it ended without reporting
        the end of the child; "silent": it never answered."""
        import json
        import selectors
        import time

        chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
        deadline = time.monotonic() + timeout
        killed = False
        with selectors.DefaultSelector() as selector:
            for fd in (out_r, err_r, self.socket.fileno()):
                selector.register(fd, selectors.EVENT_READ)
            while True:
                pipes_open = out_r in selector.get_map() or err_r in selector.get_map()
                code = child.get("exit")
                if code is not None and (killed or not pipes_open):
                    outcome = "timeout" if killed else "exited"
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    if "pid" not in child:
                        outcome = "silent"
                        break
                    if killed or code is not None:  # ended, but its output is held open (or will not die)
                        outcome = "timeout"
                        break
                    self._kill(child["pid"])
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
                    message = json.loads(data) if data else {}
                    if "error" in message:
                        return "refused", None, b"", b""
                    if not data:  # the server has ended before it reported the child's end
                        return "lost", None, b"".join(chunks[out_r]), b"".join(chunks[err_r])
                    if "exit" in message and message.get("pid") == child.get("pid"):
                        child["exit"] = int(message["exit"])
                    elif "pid" in message and "pid" not in child:
                        child["pid"] = int(message["pid"])
        return outcome, child.get("exit"), b"".join(chunks[out_r]), b"".join(chunks[err_r])


__all__ = ["MODULES", "SWITCH", "enable", "launch", "main"]
