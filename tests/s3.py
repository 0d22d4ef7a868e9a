"""A real S3 endpoint for the tests: moto's server in its own process, checking every request's
signature and the permissions of the credentials that signed it, as AWS, MinIO or Ceph would.

Invigil signs in as an IAM user holding only the permissions the README asks an operator to grant,
so a code path that needs one more fails here as it would in production.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

REGION = "eu-west-1"
MEDIA_BUCKET = "invigil-media"
ANCHOR_BUCKET = "invigil-audit-anchors"
#: What Invigil needs on its media bucket (README, "Media on an object store").
MEDIA_ACTIONS = [
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:ListBucket",
    "s3:ListBucketVersions",
]
#: ...and on the audit anchors' bucket: write once, read, list; never delete.
ANCHOR_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:ListBucket"]


@dataclass
class S3Server:
    """A running moto server, its two buckets (media: versioned; anchors: object lock) and the
    access key Invigil uses. ``admin`` is a client with every right, for a test's own inspection."""

    endpoint_url: str
    access_key: str
    secret_key: str
    admin: Any
    process: subprocess.Popen[bytes] = field(repr=False)

    def storage_options(self, *, bucket: str, prefix: str) -> dict[str, Any]:
        """OPTIONS for proctor.storage.ObjectStorage, as proctor/settings.py builds them."""
        return {
            "bucket_name": bucket,
            "endpoint_url": self.endpoint_url,
            "region_name": REGION,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "location": prefix,
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        }

    def versions(self, bucket: str, prefix: str) -> list[dict[str, Any]]:
        """Every version and delete marker under ``prefix``, as the bucket's owner sees them."""
        found: list[dict[str, Any]] = []
        for page in self.admin.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
            found += page.get("Versions", []) + page.get("DeleteMarkers", [])
        return found

    def read_version(self, bucket: str, entry: dict[str, Any]) -> bytes:
        answer = self.admin.get_object(Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"])
        return bytes(answer["Body"].read())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _policy(actions: list[str] | str, resources: list[str] | str) -> str:
    statement = {"Effect": "Allow", "Action": actions, "Resource": resources}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _bucket_policy(bucket: str, actions: list[str]) -> str:
    return _policy(actions, [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"])


def s3_server_start(log: Path) -> S3Server:
    """Start moto's server on a free port and set it up; from then on every request is authenticated."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"The S3 server did not start:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.1)
    # Until authentication is switched on below, moto takes any credentials: these set the server up.
    setup = {
        "endpoint_url": endpoint,
        "region_name": REGION,
        "aws_access_key_id": "setup",
        "aws_secret_access_key": "x",
    }
    iam = boto3.client("iam", **setup)
    iam.create_user(UserName="invigil")
    key = iam.create_access_key(UserName="invigil")["AccessKey"]
    iam.put_user_policy(
        UserName="invigil", PolicyName="media", PolicyDocument=_bucket_policy(MEDIA_BUCKET, MEDIA_ACTIONS)
    )
    iam.put_user_policy(
        UserName="invigil", PolicyName="anchors", PolicyDocument=_bucket_policy(ANCHOR_BUCKET, ANCHOR_ACTIONS)
    )
    iam.create_user(UserName="owner")
    owner = iam.create_access_key(UserName="owner")["AccessKey"]
    iam.put_user_policy(
        UserName="owner",
        PolicyName="everything",
        PolicyDocument=_policy("*", "*"),
    )
    location = {"LocationConstraint": REGION}
    s3 = boto3.client("s3", **setup)
    s3.create_bucket(Bucket=MEDIA_BUCKET, CreateBucketConfiguration=location)
    s3.put_bucket_versioning(Bucket=MEDIA_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.create_bucket(Bucket=ANCHOR_BUCKET, CreateBucketConfiguration=location, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=ANCHOR_BUCKET,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
        },
    )
    # From here on: signatures checked, and each request allowed only by its signer's policies.
    request = urllib.request.Request(  # noqa: S310 (our own server, on loopback)
        f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (our own server, on loopback)
        assert json.load(answer)["status"] == "ok"
    admin = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=owner["AccessKeyId"],
        aws_secret_access_key=owner["SecretAccessKey"],
    )
    return S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"], admin, process)


def s3_server_stop(server: S3Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()


@dataclass
class S3Media:
    """The media and anchor storages of one test, each under a prefix of its own in the server's buckets."""

    server: S3Server
    prefix: str
    anchor_prefix: str

    def media_versions(self) -> list[dict[str, Any]]:
        return self.server.versions(MEDIA_BUCKET, self.prefix + "/")

    def media_objects(self) -> Iterator[tuple[str, bytes]]:
        """Every stored version of every media object (name inside the prefix, bytes); delete markers hold none."""
        for entry in self.media_versions():
            if "Size" in entry:  # a version, not a delete marker
                yield entry["Key"][len(self.prefix) + 1 :], self.server.read_version(MEDIA_BUCKET, entry)


def object_reads(storage: Any) -> list[tuple[str, str]]:
    """Every GetObject request ``storage`` sends from now on, in this thread: (key, Range header; ""
    for none). Filled in as the requests go out."""
    sent: list[tuple[str, str]] = []

    def remember(request: Any, **_: Any) -> None:
        wanted = request.headers.get("Range", "")
        key = urllib.parse.unquote(urllib.parse.urlsplit(request.url).path).split("/", 2)[2]
        sent.append((key, wanted.decode() if isinstance(wanted, bytes) else wanted))

    storage.connection.meta.client.meta.events.register("before-send.s3.GetObject", remember)
    return sent


def s3_media_configure(settings: Any, server: S3Server) -> S3Media:
    """Point STORAGES["default"] and ["audit_anchors"] of this test at the server (pytest-django's
    ``settings`` restores them afterwards)."""
    run = uuid.uuid4().hex[:12]
    media = S3Media(server, prefix=f"test-{run}", anchor_prefix=f"anchors-{run}")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "proctor.storage.ObjectStorage",
            "OPTIONS": server.storage_options(bucket=MEDIA_BUCKET, prefix=media.prefix),
        },
        "audit_anchors": {
            "BACKEND": "proctor.storage.ObjectStorage",
            "OPTIONS": server.storage_options(bucket=ANCHOR_BUCKET, prefix=media.anchor_prefix),
        },
    }
    return media
