"""moto_server with the S3 rules the kit relies on that moto does not follow.

Run as `python3 moto_front.py -H 127.0.0.1 -p <port>`: the same server and arguments as
`moto_server`, with these corrections applied first, each one what real S3 does:

- A multipart upload is locked as its CreateMultipartUpload asked (x-amz-object-lock-mode,
  -retain-until-date, -legal-hold), or else with the bucket's default retention, like a PutObject.
  moto drops both, so an upload that relies on them looks unlocked here and would pass a test that
  real S3 fails (or the reverse).
"""

import sys
import threading

import moto.s3.models as models
import moto.s3.responses as responses
from moto.server import main

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


_original_create = models.S3Backend.create_multipart_upload


def _create_multipart_upload(self, bucket_name, key_name, *args, **kwargs):  # type: ignore[no-untyped-def]
    multipart = _original_create(self, bucket_name, key_name, *args, **kwargs)
    lock = getattr(_request, "lock", None) or (None, None, None)
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


responses.S3Response._key_response_post = _key_response_post
models.S3Backend.create_multipart_upload = _create_multipart_upload
models.S3Backend.complete_multipart_upload = _complete_multipart_upload

if __name__ == "__main__":
    main(sys.argv[1:])
