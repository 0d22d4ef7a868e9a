"""Media on an S3 server (moto's, checking signatures and permissions): wrong credentials are refused
and store nothing, reads fetch byte ranges, a deletion leaves no version behind, and the audit
chain's head anchors go to a write-once bucket and are read back from it."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from proctor.audit import anchor_storage, audit_anchors, audit_record, audit_verify
from proctor.audit_actions import AuditAction
from proctor.models import AuditHead
from proctor.storage import ObjectStorage
from proctor.tasks import audit_chain_verify
from tests.s3 import ANCHOR_BUCKET, MEDIA_BUCKET, S3Media, S3Server, object_reads


def storage_as(server: S3Server, media: S3Media, **credentials: str) -> ObjectStorage:
    return ObjectStorage(**{**server.storage_options(bucket=MEDIA_BUCKET, prefix=media.prefix), **credentials})


@pytest.mark.parametrize(
    ("credentials", "code"),
    [
        ({"secret_key": "not-the-secret"}, "SignatureDoesNotMatch"),
        ({"access_key": "AKIAUNKNOWN000000000", "secret_key": "whatever"}, "InvalidAccessKeyId"),
    ],
)
def test_the_server_refuses_wrong_credentials_and_stores_nothing(
    s3_server: S3Server, s3_media: S3Media, credentials: dict[str, str], code: str
) -> None:
    right = storage_as(s3_server, s3_media)
    name = right.save("probe.sealed", ContentFile(b"sealed bytes"))
    wrong = storage_as(s3_server, s3_media, **credentials)

    with pytest.raises(ClientError) as refused:
        wrong.save("intruder.sealed", ContentFile(b"anything"))
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as refused, wrong.open(name) as handle:
        handle.read()
    assert refused.value.response["Error"]["Code"] == code  # a GET's answer has a body that names the error

    assert [entry["Key"] for entry in s3_media.media_versions()] == [f"{s3_media.prefix}/{name}"]
    with right.open(name) as handle:
        assert handle.read() == b"sealed bytes"


def test_reads_fetch_only_the_ranges_read(s3_server: S3Server, s3_media: S3Media) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    name = default_storage.save("big.sealed", ContentFile(data))
    reads = object_reads(default_storage)

    with default_storage.open(name, "rb") as handle:
        handle.seek(700_000)
        assert handle.read(10) == data[700_000:700_010]
        assert handle.read(5) == data[700_010:700_015]  # from the buffer, no second request
        handle.seek(3)
        assert handle.read(4) == data[3:7]
        handle.seek(0, 2)
        assert handle.tell() == len(data)
        assert handle.read(1) == b""

    key = f"{s3_media.prefix}/{name}"
    assert reads == [(key, "bytes=700000-962143"), (key, "bytes=3-262146")]
    with default_storage.open(name, "rb") as handle:
        assert handle.read() == data  # read to the end: one request
    assert reads[2:] == [(key, "bytes=0-")]


def test_reading_a_missing_object_says_so(s3_media: S3Media) -> None:
    with pytest.raises(FileNotFoundError, match="missing.sealed"), default_storage.open("missing.sealed") as handle:
        handle.read()


def test_a_deletion_removes_every_version_and_delete_marker_of_that_key_and_no_other(
    s3_server: S3Server, s3_media: S3Media
) -> None:
    client = s3_server.admin
    key = f"{s3_media.prefix}/recordings/x/00000000-a.sealed"
    for body in (b"first", b"second"):  # two versions, as an overwrite in a versioned bucket leaves
        client.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=body)
    client.delete_object(Bucket=MEDIA_BUCKET, Key=key)  # a delete marker hides them; they are still there
    client.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=b"third")
    client.put_object(Bucket=MEDIA_BUCKET, Key=key + ".old", Body=b"a neighbour sharing the prefix")
    assert len(s3_media.media_versions()) == 5

    default_storage.delete("recordings/x/00000000-a.sealed")

    assert [entry["Key"] for entry in s3_media.media_versions()] == [key + ".old"]
    assert not default_storage.exists("recordings/x/00000000-a.sealed")
    default_storage.delete("recordings/x/00000000-a.sealed")  # already gone: not an error


def test_the_daily_check_anchors_the_chain_head_in_the_write_once_bucket(
    db: None, s3_server: S3Server, s3_media: S3Media
) -> None:
    audit_record(actor=None, action=AuditAction.KEYS_ROTATE)
    assert audit_chain_verify.apply().get()["ok"]

    head = AuditHead.objects.get(id=1)
    anchors = audit_anchors()
    assert [(anchor.seq, anchor.hash) for anchor in anchors] == [(head.seq, head.hash)]
    assert audit_verify(anchors=anchors).ok
    (stored,) = s3_server.versions(ANCHOR_BUCKET, s3_media.anchor_prefix + "/")
    assert stored["Key"] == f"{s3_media.anchor_prefix}/{anchors[0].name}"
    # Under the bucket's default retention, and Invigil's own credentials cannot delete it anyway.
    locked = s3_server.admin.head_object(Bucket=ANCHOR_BUCKET, Key=stored["Key"], VersionId=stored["VersionId"])
    assert locked["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(ClientError, match="AccessDenied"):
        anchor_storage().delete(anchors[0].name)
    assert audit_anchors() == anchors
