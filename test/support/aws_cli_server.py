"""A server for the AWS CLI v1 the instance-script tests run, and the `aws` command that uses it.

Each AWS CLI v1 call spends most of its half second importing botocore and awscli; the round
trips make hundreds of calls. This server imports them once; workers forked from it run the same
`awscli.clidriver.main()` the `aws` script runs, one call after another, each with the caller's
argv, environment, working directory, umask and standard streams (passed as file descriptors).
The CLI code, its requests and its output are the real CLI's; only the interpreter start and
the parsed service models (read once, at the server's start) are shared.

    python aws_cli_server.py serve <socket> <shim path> <real aws>

writes the `aws` shim to <shim path> and serves until stdin closes (the test run ends). The shim
connects, hands over its streams, forwards TERM, INT and HUP to the CLI, and ends as the CLI
ended (its exit code, or the same signal). If the server is not there it runs the real CLI.
"""

import gc
import io
import logging
import marshal
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import warnings

# The streams the server started with: a worker's between calls, and the model of a call's.
SERVER_STREAMS = (sys.stdin, sys.stdout, sys.stderr)

SHIM = """#!{python} -IS
# The `aws` command of the instance-script tests: the real AWS CLI, run by a server whose workers
# have already imported it (test/support/aws_cli_server.py). Built-in modules only (no json,
# socket or signal package): a call starts in half the time.
import _signal, _socket, marshal, posix, sys
REAL = {real!r}
server = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
try:
    server.connect({socket_path!r})
except OSError:
    posix.execv(REAL, [REAL] + sys.argv[1:])
umask = posix.umask(0)
posix.umask(umask)
# The environment as bytes: exactly what this process got, whatever its encoding.
request = marshal.dumps({{"argv": sys.argv[1:], "env": dict(posix.environ), "cwd": posix.getcwd(), "umask": umask}})
fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))
server.sendmsg([len(request).to_bytes(4, "big")], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
server.sendall(request)
posix.close(0)
posix.close(1)
for forwarded in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP):
    _signal.signal(forwarded, lambda number, frame: server.send(bytes([number])))
reply = b""
while len(reply) < 4:
    chunk = server.recv(4 - len(reply))
    if not chunk:
        posix._exit(255)
    reply += chunk
status = int.from_bytes(reply, "big", signed=True)
if status < 0:
    _signal.signal(-status, _signal.SIG_DFL)
    posix.kill(posix.getpid(), -status)
    posix._exit(128 - status)
posix._exit(status)
"""


def receive_exactly(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise EOFError("the other end went away")
        data += chunk
    return data


def receive_request(connection: socket.socket):
    """A request as the shim (or the server, to a worker) sends it: its streams and its marshal."""
    header, fds, _flags, _address = socket.recv_fds(connection, 4, 3)
    if not header:
        raise EOFError("the other end went away")
    if len(header) < 4:
        header += receive_exactly(connection, 4 - len(header))
    (size,) = struct.unpack("!I", header)
    return marshal.loads(receive_exactly(connection, size)), fds


def send_request(connection: socket.socket, request: dict, fds: list) -> None:
    data = marshal.dumps(request)
    socket.send_fds(connection, [struct.pack("!I", len(data))], fds)
    connection.sendall(data)


# ---------------------------------------------------------------------------------------------
# A worker: a process forked from the server that runs CLI calls one after another.
#
# Forking a child per call cost more than the call itself here (a fork of the large server, the
# pages each child copies, its exit: about three quarters of a call's CPU). A worker starts as
# the server's copy and takes the next call once the last has ended, each call with the caller's
# argv, environment, working directory, umask, TZ, signals and fresh standard streams. What a
# call could leave behind in the process is put back (logging, warnings filters) or checked; a
# worker whose call left anything else (a thread, an open file, a changed sys.path, the CLI
# history on) or was signalled is not given another call: it exits and a new one is forked.


def logging_state():
    """Every logger's level, handlers, propagation and disabled flag (the CLI's --debug adds a handler)."""
    loggers = [logging.root] + [item for item in logging.root.manager.loggerDict.values() if isinstance(item, logging.Logger)]
    return logging.root.manager.disable, {id(logger): (logger, logger.level, list(logger.handlers), logger.propagate, logger.disabled) for logger in loggers}


def restore_logging(saved) -> None:
    disable, loggers = saved
    logging.root.manager.disable = disable
    for item in list(logging.root.manager.loggerDict.values()) + [logging.root]:
        if not isinstance(item, logging.Logger):
            continue
        # A logger made during the call gets what logging.getLogger() gives a new one.
        _, level, handlers, propagate, disabled = loggers.get(id(item), (item, logging.NOTSET, [], True, False))
        item.level, item.handlers, item.propagate, item.disabled = level, list(handlers), propagate, disabled
    logging.root.manager._clear_cache()


def standard_stream(fd: int, template):
    """A stream on fd as Python makes sys.stdin/stdout/stderr at its start, for the caller's fd."""
    writing = fd != 0
    interactive = os.isatty(fd)
    raw = io.FileIO(fd, "w" if writing else "r", closefd=False)
    buffered = (io.BufferedWriter if writing else io.BufferedReader)(raw)
    return io.TextIOWrapper(buffered, encoding=template.encoding, errors=template.errors, newline="\n",
                            line_buffering=writing and (interactive or fd == 2))


def open_fds(keep) -> list:
    """The open file descriptors but those in keep (not the one the listing itself used)."""
    listed = [int(name) for name in os.listdir("/proc/self/fd")]
    return sorted(fd for fd in listed if fd not in keep and is_open(fd))


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def run_call(request: dict, fds: list) -> int:
    """In a worker: becomes the caller's `aws` process for one call and runs the CLI."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        os.close(fd)
    # The compiled shim sends argv and the directory as bytes (the Python one as str): both as Python has them.
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    os.environb.clear()
    os.environb.update(request["env"])
    time.tzset()
    for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD, signal.SIGPIPE):
        signal.signal(number, signal.SIG_DFL if number != signal.SIGPIPE else signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.argv = ["aws"] + [os.fsdecode(argument) for argument in request["argv"]]
    sys.stdin, sys.stdout, sys.stderr = (standard_stream(fd, stream) for fd, stream in enumerate(SERVER_STREAMS))
    # As the `aws` script does before importing the CLI, and awscli/__init__.py when imported.
    if os.environ.get("LC_CTYPE", "") == "UTF-8":
        os.environ["LC_CTYPE"] = "en_US.UTF-8"
    os.environ["AWS_DATA_PATH"] = cli_data_path(os.environ)
    code = 255
    try:
        code = awscli.clidriver.main()
    except SystemExit as exit_request:
        code = exit_request.code if isinstance(exit_request.code, int) else (0 if exit_request.code is None else 1)
    except BaseException:
        traceback.print_exc()
    # sys.__stdout__ and sys.__stderr__ (the server's streams) write to the same fds meanwhile.
    for stream in (sys.stdout, sys.stderr, *SERVER_STREAMS[1:]):
        try:
            stream.flush()
        except Exception:
            pass
    return code if isinstance(code, int) else 0


def worker_main(control: socket.socket) -> None:
    """The worker's loop: a call, then the checks that let it take the next; exits when told to."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(devnull, target)
    os.close(devnull)
    keep = {0, 1, 2, control.fileno()}
    for fd in open_fds(keep):
        os.close(fd)
    baseline_logging = logging_state()
    baseline_warnings = list(warnings.filters)
    baseline_path = list(sys.path)
    history = botocore.history.get_global_history_recorder()
    while True:
        try:
            request, fds = receive_request(control)
        except (EOFError, OSError):
            os._exit(0)
        code = run_call(request, fds)
        # The caller's streams are let go before it is told the call ended (its pipes must end).
        sys.stdin, sys.stdout, sys.stderr = SERVER_STREAMS
        devnull = os.open(os.devnull, os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(devnull, target)
        os.close(devnull)
        gc.collect()
        restore_logging(baseline_logging)
        warnings.filters[:] = baseline_warnings
        warnings._filters_mutated()
        clean = (threading.active_count() == 1 and not open_fds(keep) and sys.path == baseline_path
                 and not history._enabled and not history._handlers)
        try:
            control.sendall(struct.pack("!i?", code, clean))
        except OSError:
            os._exit(0)
        if not clean:
            os._exit(0)


class Worker:
    """The server's side of a worker: its control socket, its pidfd and the call it runs."""

    def __init__(self) -> None:
        server_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            server_end.close()
            try:
                worker_main(worker_end)
            finally:
                os._exit(255)
        worker_end.close()
        self.pid = pid
        self.control = server_end
        self.ended = os.pidfd_open(pid)
        self.caller = None  # the connection of the caller whose call runs, if any
        self.signalled = False

    def start(self, caller: socket.socket, request: dict, fds: list) -> None:
        self.caller, self.signalled = caller, False
        send_request(self.control, request, fds)

    def answer(self, status: int) -> None:
        """Tells the caller how its call ended (if it is still there)."""
        if self.caller is not None:
            try:
                self.caller.sendall(struct.pack("!i", status))
            except OSError:
                pass
            self.caller.close()
        self.caller = None


class Pool:
    """The workers, idle or running a call, and which socket or pidfd belongs to which."""

    def __init__(self) -> None:
        self.idle: list = []
        self.by_caller: dict = {}
        self.by_control: dict = {}
        self.by_end: dict = {}

    def watched(self) -> list:
        return [*self.by_caller, *self.by_control, *self.by_end]

    def start_call(self, connection: socket.socket) -> None:
        try:
            request, fds = receive_request(connection)
        except (EOFError, OSError, ValueError, TypeError, struct.error):
            connection.close()
            return
        worker = self.idle.pop() if self.idle else self.add()
        try:
            worker.start(connection, request, fds)
        except OSError:
            # The worker is gone (its end is reported by its pidfd): a new one takes the call.
            self.retire(worker)
            worker = self.add()
            worker.start(connection, request, fds)
        finally:
            for fd in fds:
                os.close(fd)
        self.by_caller[connection] = worker

    def add(self) -> Worker:
        worker = Worker()
        self.by_control[worker.control] = worker
        self.by_end[worker.ended] = worker
        return worker

    def retire(self, worker: Worker) -> None:
        """Takes no more calls: its control socket closes (it exits), its end is still awaited."""
        if worker in self.idle:
            self.idle.remove(worker)
        if self.by_control.pop(worker.control, None) is not None:
            worker.control.close()

    def call_ended(self, control: socket.socket) -> None:
        worker = self.by_control[control]
        try:
            reply = receive_exactly(control, 5)
        except (EOFError, OSError):
            self.retire(worker)  # it died: its pidfd tells how
            return
        status, clean = struct.unpack("!i?", reply)
        if worker.caller is not None:
            del self.by_caller[worker.caller]
        worker.answer(status)
        if clean and not worker.signalled:
            self.idle.append(worker)
        else:
            self.retire(worker)

    def worker_ended(self, ended: int) -> None:
        worker = self.by_end.pop(ended)
        _, wait_status = os.waitpid(worker.pid, 0)
        os.close(ended)
        self.retire(worker)
        if worker.caller is not None:
            del self.by_caller[worker.caller]
            worker.answer(os.waitstatus_to_exitcode(wait_status))

    def caller_spoke(self, connection: socket.socket) -> None:
        worker = self.by_caller[connection]
        try:
            data = connection.recv(16)
        except OSError:
            data = b""
        if not data:
            # The caller was killed: so is its CLI (reaped when its pidfd says it ended).
            del self.by_caller[connection]
            connection.close()
            worker.caller = None
            self.retire(worker)
            os.kill(worker.pid, signal.SIGKILL)
            return
        worker.signalled = True
        for number in data:
            os.kill(worker.pid, number)

    def stop(self) -> None:
        for worker in self.by_end.values():
            os.kill(worker.pid, signal.SIGKILL)


def cli_data_path(environ) -> str:
    """AWS_DATA_PATH as the `aws` script sets it before main(): the caller's, then awscli's data."""
    paths = [os.path.expanduser(os.path.expandvars(path)) for path in environ["AWS_DATA_PATH"].split(os.pathsep)] if "AWS_DATA_PATH" in environ else []
    paths.append(os.path.join(os.path.dirname(os.path.abspath(awscli.__file__)), "data"))
    return os.pathsep.join(paths)


def share_model_cache() -> None:
    """Every botocore Loader with the same search paths shares one cache of what it read.

    A loader caches the service models, endpoint rules and service listings it reads from its
    search paths; each CLI call makes a new one and reads them again (0.1 s of a 0.3 s call).
    The files do not change while the tests run, so the children start with what the server
    read in warm_up(). Loaders with other search paths (another AWS_DATA_PATH) get their own.
    """
    import botocore.loaders

    caches = {}
    make_loader = botocore.loaders.Loader.__init__

    def make_loader_with_shared_cache(self, *args, **kwargs):
        make_loader(self, *args, **kwargs)
        self._cache = caches.setdefault(tuple(self.search_paths), {})

    botocore.loaders.Loader.__init__ = make_loader_with_shared_cache


# Calls that read what the instance scripts' calls read (models, endpoint rules, partitions);
# sent to a closed port, so each fails at once without a request leaving the machine.
WARM_UP_CALLS = (
    ["s3api", "head-object", "--bucket", "warm-up", "--key", "warm-up"],
    ["s3api", "list-objects-v2", "--bucket", "warm-up"],
    ["ssm", "get-parameter", "--name", "warm-up"],
    ["secretsmanager", "get-secret-value", "--secret-id", "warm-up"],
)


def warm_up() -> None:
    """Runs WARM_UP_CALLS in the server (no threads start) with its output discarded."""
    saved_environ, saved_argv = dict(os.environ), sys.argv
    saved_out, saved_err = os.dup(1), os.dup(2)
    discard = os.open(os.devnull, os.O_WRONLY)
    os.dup2(discard, 1)
    os.dup2(discard, 2)
    try:
        os.environ.update(
            AWS_ACCESS_KEY_ID="warm-up", AWS_SECRET_ACCESS_KEY="warm-up", AWS_DEFAULT_REGION="eu-west-1",
            AWS_MAX_ATTEMPTS="1", AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        )
        # As for a caller without AWS_DATA_PATH (importing awscli has set the server's own).
        os.environ["AWS_DATA_PATH"] = cli_data_path({})
        for call in WARM_UP_CALLS:
            sys.argv = ["aws", "--endpoint-url", "http://127.0.0.1:9", "--cli-connect-timeout", "1", *call]
            try:
                awscli.clidriver.main()
            except SystemExit:
                pass
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        for fd in (saved_out, saved_err, discard):
            os.close(fd)
        os.environ.clear()
        os.environ.update(saved_environ)
        sys.argv = saved_argv


def serve(socket_path: str, shim_path: str, real_aws: str) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    with open(shim_path, "w", encoding="utf-8") as shim:
        shim.write(SHIM.format(python=sys.executable, real=real_aws, socket_path=socket_path))
    os.chmod(shim_path, 0o755)
    share_model_cache()
    warm_up()
    gc.collect()
    # What is imported now is shared with every child: kept out of the children's garbage
    # collections, which would otherwise touch (and so copy) every page of it.
    gc.freeze()

    print("ready", flush=True)
    # One thread, one select over everything: new callers, each caller's connection (signals to
    # pass on, or EOF when the caller was killed), each busy worker's control socket (its call
    # ended) and each worker's pidfd (it exited).
    pool = Pool()
    while True:
        # Raw reads of stdin (no thread, no buffered reader whose lock a fork could copy held).
        ready, _, _ = select.select([listener, 0, *pool.watched()], [], [])
        if 0 in ready and not os.read(0, 4096):
            pool.stop()
            os._exit(0)
        for source in ready:
            # Each is looked up as it comes: handling one may have closed another.
            if source is listener:
                connection, _ = listener.accept()
                pool.start_call(connection)
            elif source in pool.by_control:
                pool.call_ended(source)
            elif source in pool.by_end:
                pool.worker_ended(source)
            elif source in pool.by_caller:
                pool.caller_spoke(source)


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "serve":
        sys.exit(__doc__)
    import awscli  # noqa: E402  (imported once, before any fork)
    import awscli.clidriver  # noqa: E402
    import awscli.handlers  # noqa: E402,F401  (what main() imports for its plugins)
    import botocore.history  # noqa: E402

    serve(sys.argv[2], sys.argv[3], sys.argv[4])
