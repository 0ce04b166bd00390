"""A fork server for the AWS CLI v1 the instance-script tests run, and the `aws` command that uses it.

Each AWS CLI v1 call spends most of its half second importing botocore and awscli; the round
trips make over a thousand calls. This server imports them once, and for every call forks a
child that runs the same `awscli.clidriver.main()` the `aws` script runs, with the caller's
argv, environment, working directory, umask and standard streams (passed as file descriptors).
The CLI code, its requests and its output are the real CLI's; only the interpreter start and
the parsed service models (read once, at the server's start) are shared.

    python aws_cli_server.py serve <socket> <shim path> <real aws>

writes the `aws` shim to <shim path> and serves until stdin closes (the test run ends). The shim
connects, hands over its streams, forwards TERM, INT and HUP to the CLI, and ends as the CLI
ended (its exit code, or the same signal). If the server is not there it runs the real CLI.
"""

import gc
import marshal
import os
import select
import signal
import socket
import struct
import sys
import traceback

SHIM = """#!{python} -IS
# The `aws` command of the instance-script tests: the real AWS CLI, run by a fork server that
# has already imported it (test/support/aws_cli_server.py). Built-in modules only (no json,
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
            raise EOFError("the caller went away")
        data += chunk
    return data


def run_cli(request: dict, fds: list) -> None:
    """In the forked child: become the caller's `aws` process and run the CLI."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    # Nothing of the server's stays open in the CLI: the listener, other callers' connections.
    os.closerange(3, 65536)
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    os.environb.clear()
    os.environb.update(request["env"])
    for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.argv = ["aws"] + request["argv"]
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
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    os._exit(code if isinstance(code, int) else 0)


class Call:
    """One CLI run: the caller's connection (None once the caller is gone) and the CLI's process."""

    def __init__(self, connection: socket.socket, pid: int) -> None:
        self.connection = connection
        self.pid = pid
        self.ended = os.pidfd_open(pid)


def start_call(connection: socket.socket):
    """Reads the caller's request and streams and forks its CLI; None if the caller went away."""
    try:
        header, fds, _flags, _address = socket.recv_fds(connection, 4, 3)
        if len(header) < 4:
            header += receive_exactly(connection, 4 - len(header))
        (size,) = struct.unpack("!I", header)
        request = marshal.loads(receive_exactly(connection, size))
    except (EOFError, OSError, ValueError, TypeError, struct.error):
        connection.close()
        return None
    cli = os.fork()
    if cli == 0:
        run_cli(request, fds)
    for fd in fds:
        os.close(fd)
    return Call(connection, cli)


def end_call(call: Call, calls_by_end: dict) -> None:
    """The CLI ended: reaps it and tells its caller how (if the caller is still there)."""
    _, wait_status = os.waitpid(call.pid, 0)
    os.close(call.ended)
    del calls_by_end[call.ended]
    if call.connection is not None:
        try:
            call.connection.sendall(struct.pack("!i", os.waitstatus_to_exitcode(wait_status)))
        except OSError:
            pass
        call.connection.close()


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
    # pass on, or EOF when the caller was killed) and each CLI's pidfd (it ended). A CLI is a
    # direct child, one fork per call.
    calls_by_connection: dict = {}
    calls_by_end: dict = {}
    while True:
        # Raw reads of stdin (no thread, no buffered reader whose lock a fork could copy held).
        ready, _, _ = select.select([listener, 0, *calls_by_connection, *calls_by_end], [], [])
        if 0 in ready and not os.read(0, 4096):
            for call in calls_by_end.values():
                os.kill(call.pid, signal.SIGKILL)
            os._exit(0)
        for source in ready:
            if source is listener:
                connection, _ = listener.accept()
                call = start_call(connection)
                if call is not None:
                    calls_by_connection[connection] = call
                    calls_by_end[call.ended] = call
            elif source in calls_by_end:
                call = calls_by_end[source]
                calls_by_connection.pop(call.connection, None)
                end_call(call, calls_by_end)
            elif source in calls_by_connection:
                call = calls_by_connection[source]
                try:
                    data = source.recv(16)
                except OSError:
                    data = b""
                if not data:
                    # The caller was killed: so is its CLI (reaped when its pidfd says it ended).
                    del calls_by_connection[source]
                    source.close()
                    call.connection = None
                    os.kill(call.pid, signal.SIGKILL)
                    continue
                for number in data:
                    os.kill(call.pid, number)


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "serve":
        sys.exit(__doc__)
    import awscli  # noqa: E402  (imported once, before any fork)
    import awscli.clidriver  # noqa: E402
    import awscli.handlers  # noqa: E402,F401  (what main() imports for its plugins)

    serve(sys.argv[2], sys.argv[3], sys.argv[4])
