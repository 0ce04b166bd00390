"""moto_server with the S3 rules the kit relies on that moto does not follow.

Run as `python3 moto_front.py -H 127.0.0.1 -p <port>`: the same server and arguments as
`moto_server`, with these corrections applied first, each one what real S3 does:

- A multipart upload is locked as its CreateMultipartUpload asked (x-amz-object-lock-mode,
  -retain-until-date, -legal-hold), or else with the bucket's default retention, like a PutObject.
  moto drops both, so an upload that relies on them looks unlocked here and would pass a test that
  real S3 fails (or the reverse).
- PutObject and UploadPart to a bucket with Object Lock, when the bucket has a default retention
  or the request sets a lock, must carry Content-MD5 or a checksum of the body (an
  x-amz-checksum-<algorithm> header, or a trailer that x-amz-trailer announces). S3 refuses them
  otherwise ("Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with
  Object Lock parameters"); moto accepts an x-amz-sdk-checksum-algorithm header alone, which only
  says what the SDK meant to send, and does not check parts at all. A CLI configured with
  request_checksum_calculation = when_required sends neither, and real S3 refuses its uploads.

One deliberate fault, for tests of the scripts' read-back: a bucket whose name starts with
`front-drops-lock-` ignores the lock a CreateMultipartUpload or a PutObject asks for (as a proxy
that strips headers, or an S3-compatible store, would), so the object gets the bucket's default
retention.
"""

import sys
import threading

import moto.s3.models as models
import moto.s3.responses as responses
from moto.s3.exceptions import S3ClientError
from moto.server import main
from werkzeug.datastructures import Headers

_request = threading.local()

_original_post = responses.S3Response._key_response_post


def _key_response_post(self, request, body, bucket_name, query, key_name):  # type: ignore[no-untyped-def]
    headers = request.headers
    _request.lock = (
        headers.get("x-amz-object-lock-mode"),
        headers.get("x-amz-object-lock-retain-until-date"),
        headers.get("x-amz-object-lock-legal-hold"),
    )
    try:
        return _original_post(self, request, body, bucket_name, query, key_name)
    finally:
        _request.lock = None


DROPS_LOCK_PREFIX = "front-drops-lock-"

_original_create = models.S3Backend.create_multipart_upload


def _create_multipart_upload(self, bucket_name, key_name, *args, **kwargs):  # type: ignore[no-untyped-def]
    multipart = _original_create(self, bucket_name, key_name, *args, **kwargs)
    lock = getattr(_request, "lock", None) or (None, None, None)
    if bucket_name.startswith(DROPS_LOCK_PREFIX):
        lock = (None, None, None)
    mode, until, hold = lock
    if mode or until or hold == "ON":
        if not self.get_bucket(bucket_name).object_lock_enabled:
            raise responses.LockNotEnabled
    multipart.front_lock = lock
    return multipart


_original_complete = models.S3Backend.complete_multipart_upload


def _complete_multipart_upload(self, bucket_name, multipart_id, body):  # type: ignore[no-untyped-def]
    bucket = self.get_bucket(bucket_name)
    multipart = bucket.multiparts.get(multipart_id)
    mode, until, hold = getattr(multipart, "front_lock", None) or (None, None, None)
    key = _original_complete(self, bucket_name, multipart_id, body)
    if key is not None and bucket.object_lock_enabled:
        if mode and until:
            key.lock_mode, key.lock_until = mode, until
        elif bucket.has_default_lock:
            key.lock_mode, key.lock_until = bucket.default_lock_mode, bucket.default_retention()
        if hold:
            key.lock_legal_status = hold
    return key


class ChecksumRequiredForObjectLock(S3ClientError):
    def __init__(self) -> None:
        super().__init__("InvalidRequest", "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters")


def _carries_checksum(headers) -> bool:  # type: ignore[no-untyped-def]
    names = {name.lower() for name in headers.keys()}
    if "content-md5" in names:
        return True
    if any(name.startswith("x-amz-checksum-") and name not in ("x-amz-checksum-algorithm", "x-amz-checksum-type") for name in names):
        return True
    return "x-amz-checksum-" in (headers.get("x-amz-trailer") or "").lower()


_original_put = responses.S3Response._key_response_put


def _key_response_put(self, query, key_name):  # type: ignore[no-untyped-def]
    headers = self.headers
    is_part = bool(query.get("uploadId") and query.get("partNumber"))
    is_object = not is_part and not any(k in query for k in ("retention", "legal-hold", "acl", "tagging"))
    if (is_part or is_object) and "x-amz-copy-source" not in headers:
        bucket = self.backend.get_bucket(self.bucket_name)
        asks_lock = bool(headers.get("x-amz-object-lock-mode") or headers.get("x-amz-object-lock-retain-until-date") or headers.get("x-amz-object-lock-legal-hold") == "ON")
        if bucket.object_lock_enabled and (bucket.has_default_lock or asks_lock):
            if not _carries_checksum(headers):
                raise ChecksumRequiredForObjectLock()
            if is_object and not headers.get("Content-Md5") and not headers.get("x-amz-sdk-checksum-algorithm"):
                # moto's own check wants this header; S3 does not: a checksum header is enough.
                patched = Headers(self.headers)
                patched["x-amz-sdk-checksum-algorithm"] = "PROVIDED"
                self.headers = patched
        if is_object and self.bucket_name.startswith(DROPS_LOCK_PREFIX):
            patched = Headers(self.headers)
            for name in ("x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date", "x-amz-object-lock-legal-hold"):
                patched.pop(name, None)
            self.headers = patched
    return _original_put(self, query, key_name)


responses.S3Response._key_response_put = _key_response_put
responses.S3Response._key_response_post = _key_response_post
models.S3Backend.create_multipart_upload = _create_multipart_upload
models.S3Backend.complete_multipart_upload = _complete_multipart_upload

# The services the tests start servers for: imported once by the factory, before it forks.
PRELOADED_SERVICES = ("s3", "kms", "ssm", "sns", "sqs", "secretsmanager", "sts", "events", "cloudwatch")


def serve_factory(socket_path: str) -> None:
    """Starts moto servers on request, each a fork of this process (moto imported once).

    `python3 moto_front.py factory <socket>` prints "ready"; then each connection sends a port
    and gets back the pid of a new server listening on 127.0.0.1:<port>, a process of its own
    with moto's state empty. Servers still running when stdin closes (the test run ends) are
    stopped. A fork spares each test file the 1.5 s of CPU that importing moto costs.
    """
    import importlib
    import os
    import random
    import select
    import signal
    import socket

    for service in PRELOADED_SERVICES:
        for module in ("models", "responses", "urls"):
            try:
                importlib.import_module(f"moto.{service}.{module}")
            except ImportError:
                pass
    servers = set()

    def reap(_number, _frame):  # type: ignore[no-untyped-def]
        while True:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            servers.discard(pid)

    signal.signal(signal.SIGCHLD, reap)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(16)
    print("ready", flush=True)
    while True:
        ready, _, _ = select.select([listener, 0], [], [])
        if 0 in ready and not os.read(0, 4096):
            for pid in list(servers):
                os.kill(pid, signal.SIGTERM)
            os._exit(0)
        if listener not in ready:
            continue
        connection, _ = listener.accept()
        with connection:
            try:
                port = int(connection.recv(16).decode().strip())
            except (OSError, UnicodeDecodeError, ValueError):
                continue  # not a port: nothing started, the factory serves on
            if not 1024 <= port <= 65535:
                continue
            pid = os.fork()
            if pid == 0:
                listener.close()
                connection.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                random.seed()
                quiet = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(quiet, fd)
                try:
                    main(["-H", "127.0.0.1", "-p", str(port)])
                finally:
                    os._exit(0)
            servers.add(pid)
            connection.sendall(f"{pid}\n".encode())


if __name__ == "__main__":
    if sys.argv[1:2] == ["factory"]:
        serve_factory(sys.argv[2])
    else:
        main(sys.argv[1:])
