"""S3 on ``stepline server`` through AWS's own clients: boto3 (and its transfer manager)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import io
import os
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import botocore.exceptions
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

MiB = 1024 * 1024


def _bucket(s3) -> str:
    name = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def _code(err: pytest.ExceptionInfo) -> str:
    return err.value.response["Error"]["Code"]


def test_buckets_lifecycle_waiters_and_errors(boto3_client) -> None:
    s3 = boto3_client("s3")
    name = f"t-{uuid.uuid4().hex[:12]}"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s3.head_bucket(Bucket=name)
    assert _code(err) == "404"  # what the SageMaker SDK compares against
    s3.create_bucket(Bucket=name)
    s3.get_waiter("bucket_exists").wait(Bucket=name, WaiterConfig={"Delay": 1})
    head = s3.head_bucket(Bucket=name, ExpectedBucketOwner="000000000000")
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s3.head_bucket(Bucket=name, ExpectedBucketOwner="111111111111")
    assert _code(err) == "403"
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s3.delete_bucket(Bucket=name)
    assert _code(err) == "BucketNotEmpty"
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    s3.get_waiter("bucket_not_exists").wait(Bucket=name, WaiterConfig={"Delay": 1})
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s3.list_objects_v2(Bucket=name)
    assert _code(err) == "NoSuchBucket"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s3.create_bucket(Bucket="Not_A_Bucket")
    assert _code(err) == "InvalidBucketName"


def test_objects_ranges_conditions_checksums(boto3_client, aws_env) -> None:
    s3 = boto3_client("s3")
    bucket = _bucket(s3)
    data = bytes(range(256)) * 10
    key = "dir/ü a+b.bin"
    put = s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=data,
        ContentType="application/x-test",
        ServerSideEncryption="aws:kms",
        ChecksumAlgorithm="SHA256",
    )
    etag = '"' + hashlib.md5(data).hexdigest() + '"'
    assert put["ETag"] == etag and put["ServerSideEncryption"] == "aws:kms"
    assert put["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    got = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert got["Body"].read() == data  # no checksum or chunk framing stored as data
    assert got["ContentType"] == "application/x-test" and got["ETag"] == etag
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(data)
    part = s3.get_object(Bucket=bucket, Key=key, Range="bytes=10-19", IfMatch=etag)
    assert part["Body"].read() == data[10:20] and part["ContentRange"] == f"bytes 10-19/{len(data)}"
    assert s3.get_object(Bucket=bucket, Key=key, Range="bytes=-5")["Body"].read() == data[-5:]
    assert s3.get_object(Bucket=bucket, Key=key, Range="bytes=2550-")["Body"].read() == data[2550:]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={len(data)}-")
    assert _code(err) == "InvalidRange"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s3.get_object(Bucket=bucket, Key=key, IfMatch='"0000"')
    assert _code(err) == "PreconditionFailed"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s3.get_object(Bucket=bucket, Key="missing")
    assert _code(err) == "NoSuchKey"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s3.head_object(Bucket=bucket, Key="missing")
    assert _code(err) == "404"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"abc", ChecksumCRC32="AAAAAA==")
    assert _code(err) == "BadDigest"
    s3.get_waiter("object_exists").wait(Bucket=bucket, Key=key, WaiterConfig={"Delay": 1})
    # Copy and delete, single and batch.
    copied = s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": key})
    assert copied["CopyObjectResult"]["ETag"] == etag
    out = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": key}, {"Key": "copy"}, {"Key": "never"}]}
    )
    assert sorted(d["Key"] for d in out["Deleted"]) == sorted([key, "copy", "never"])
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    # Presigned URLs (SigV2, boto3's default for S3, and SigV4) work without other credentials.
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"shared")
    for client in (s3, boto3_client("s3", signature_version="s3v4")):
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "shared.txt"}, ExpiresIn=60
        )
        conn = http.client.HTTPConnection("127.0.0.1", aws_env["port"], timeout=10)
        conn.request("GET", url.split(str(aws_env["port"]), 1)[1])
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b"shared")
        tampered = url.replace("shared.txt", "other.txt")
        conn.request("GET", tampered.split(str(aws_env["port"]), 1)[1])
        resp = conn.getresponse()
        assert resp.status == 403 and b"SignatureDoesNotMatch" in resp.read()
        conn.close()


def test_list_objects_v2_paginates_with_delimiter_and_encoding(boto3_client) -> None:
    s3 = boto3_client("s3")
    bucket = _bucket(s3)
    keys = [f"p/{i:02d}.txt" for i in range(7)] + [f"p/sub{i}/x" for i in range(5)]
    keys += ["p/a b+c ü.txt", "q/1", "top"]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=k.encode()), keys))
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix="p/", Delimiter="/", PaginationConfig={"PageSize": 3}
    )
    seen, prefixes, counts = [], [], []
    for page in pages:
        counts.append(page["KeyCount"])
        seen += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    direct = sorted(k for k in keys if k.startswith("p/") and "/" not in k[2:])
    assert sorted(seen) == direct and len(seen) == len(set(seen))
    assert prefixes == [f"p/sub{i}/" for i in range(5)]
    assert max(counts) <= 3 and len(counts) >= 4
    everything = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 4}
        )
        for o in page.get("Contents", [])
    ]
    assert everything == sorted(keys, key=lambda k: k.encode())
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="p/sub4/x")
    assert [o["Key"] for o in after["Contents"]] == ["q/1", "top"]
    v1 = s3.list_objects(Bucket=bucket, Prefix="q/")
    assert [o["Key"] for o in v1["Contents"]] == ["q/1"]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="not-a-token")
    assert _code(err) == "InvalidArgument"


def test_multipart_out_of_order_concurrent(boto3_client) -> None:
    s3 = boto3_client("s3")
    bucket = _bucket(s3)
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), b"tail" * 1000]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big.bin", ChecksumAlgorithm="CRC32")
    uid = upload["UploadId"]

    def send(number: int) -> dict:
        out = s3.upload_part(
            Bucket=bucket,
            Key="big.bin",
            UploadId=uid,
            PartNumber=number,
            Body=parts[number - 1],
            ChecksumAlgorithm="CRC32",
        )
        return {"PartNumber": number, "ETag": out["ETag"]}

    with ThreadPoolExecutor(3) as pool:
        done = list(pool.map(send, [3, 1, 2]))
    listed = s3.list_parts(Bucket=bucket, Key="big.bin", UploadId=uid)["Parts"]
    assert [p["PartNumber"] for p in listed] == [1, 2, 3]
    assert [p["Size"] for p in listed] == [len(p) for p in parts]
    ordered = sorted(done, key=lambda p: p["PartNumber"])
    result = s3.complete_multipart_upload(
        Bucket=bucket, Key="big.bin", UploadId=uid, MultipartUpload={"Parts": ordered}
    )
    md5s = b"".join(hashlib.md5(p).digest() for p in parts)
    assert result["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-3"'
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == b"".join(parts)
    # Abort, and the errors the transfer manager handles.
    uid2 = s3.create_multipart_upload(Bucket=bucket, Key="gone")["UploadId"]
    small = s3.upload_part(Bucket=bucket, Key="gone", UploadId=uid2, PartNumber=1, Body=b"a")
    last = s3.upload_part(Bucket=bucket, Key="gone", UploadId=uid2, PartNumber=2, Body=b"b")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="gone",
            UploadId=uid2,
            MultipartUpload={
                "Parts": [
                    {"PartNumber": 1, "ETag": small["ETag"]},
                    {"PartNumber": 2, "ETag": last["ETag"]},
                ]
            },
        )
    assert _code(err) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=uid2)
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s3.list_parts(Bucket=bucket, Key="gone", UploadId=uid2)
    assert _code(err) == "NoSuchUpload"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s3.head_object(Bucket=bucket, Key="gone")
    assert _code(err) == "404"


def test_transfer_manager_and_expect_continue(boto3_client, tmp_path) -> None:
    """upload_file/download_file (multipart, ranged GETs with If-Match); file-like bodies
    carry ``Expect: 100-continue``, which must not cost botocore's one-second wait."""
    from boto3.s3.transfer import TransferConfig

    s3 = boto3_client("s3")
    bucket = _bucket(s3)
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(20 * MiB + 123))
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB)
    s3.upload_file(str(src), bucket, "data/src.bin", Config=config)
    dst = tmp_path / "dst.bin"
    s3.download_file(bucket, "data/src.bin", str(dst), Config=config)
    assert dst.read_bytes() == src.read_bytes()
    started = time.monotonic()
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"f{i}", Body=io.BytesIO(b"x" * 1000))
    assert time.monotonic() - started < 3.0


def test_virtual_hosted_style(boto3_client, aws_env) -> None:
    """``bucket.localhost`` addressing.  The request reaches the server in absolute form through
    a proxy setting, since ``*.localhost`` does not resolve on every machine."""
    import boto3
    from botocore.config import Config

    port = aws_env["port"]
    path_style = boto3_client("s3")
    bucket = _bucket(path_style)
    virtual = boto3.session.Session().client(
        "s3",
        endpoint_url=f"http://localhost:{port}",
        aws_access_key_id=aws_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=aws_env["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "virtual"}, proxies={"http": f"http://127.0.0.1:{port}"}
        ),
    )
    virtual.put_object(Bucket=bucket, Key="v/key.txt", Body=b"virtual")
    assert path_style.get_object(Bucket=bucket, Key="v/key.txt")["Body"].read() == b"virtual"
    listed = virtual.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listed["Contents"]] == ["v/key.txt"]
    assert listed["ResponseMetadata"]["HTTPStatusCode"] == 200


def _chunked_put(aws_env: dict, bucket: str, key: str, chunks: list[bytes], tamper: bool) -> int:
    """PutObject with an ``aws-chunked`` STREAMING-AWS4-HMAC-SHA256-PAYLOAD body, as the Java
    and JS SDKs send it; the seed signature comes from botocore, chunk signatures from the spec."""
    port = aws_env["port"]
    total = sum(len(c) for c in chunks)
    url = f"http://127.0.0.1:{port}/{bucket}/{key}"
    req = AWSRequest(
        "PUT",
        url,
        headers={
            "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(total),
        },
    )
    creds = Credentials(aws_env["AWS_ACCESS_KEY_ID"], aws_env["AWS_SECRET_ACCESS_KEY"])

    class StreamingAuth(S3SigV4Auth):
        def payload(self, request: AWSRequest) -> str:
            return "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"

    StreamingAuth(creds, "s3", "us-east-1").add_auth(req)
    assert req.headers["x-amz-content-sha256"] == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    seed = req.headers["Authorization"].rsplit("Signature=", 1)[1]
    amz_date = req.headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"

    def h(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    key_bytes = b"AWS4" + creds.secret_key.encode()
    for part in (amz_date[:8], "us-east-1", "s3", "aws4_request"):
        key_bytes = h(key_bytes, part)
    empty = hashlib.sha256(b"").hexdigest()
    body, previous = b"", seed
    for chunk in [*chunks, b""]:
        sts = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                amz_date,
                scope,
                previous,
                empty,
                hashlib.sha256(chunk).hexdigest(),
            ]
        )
        sig = hmac.new(key_bytes, sts.encode(), hashlib.sha256).hexdigest()
        if tamper and chunk:
            chunk = chunk[:-1] + b"!"
        body += f"{len(chunk):x};chunk-signature={sig}\r\n".encode() + chunk + b"\r\n"
        previous = sig
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = dict(req.headers.items())
    headers["Content-Length"] = str(len(body))
    conn.request("PUT", f"/{bucket}/{key}", body=body, headers=headers)
    resp = conn.getresponse()
    status, text = resp.status, resp.read()
    conn.close()
    assert status in (200, 403), text
    return status


def test_aws_chunked_bodies_are_decoded_and_chunk_signatures_checked(boto3_client, aws_env) -> None:
    s3 = boto3_client("s3")
    bucket = _bucket(s3)
    chunks = [os.urandom(70_000), os.urandom(1000)]
    assert _chunked_put(aws_env, bucket, "chunked", chunks, tamper=False) == 200
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == b"".join(chunks)
    assert _chunked_put(aws_env, bucket, "bad", chunks, tamper=True) == 403
    with pytest.raises(botocore.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="bad")


def _trailer_put(aws_env: dict, bucket: str, key: str, data: bytes, crc: str) -> tuple:
    """PutObject with a STREAMING-UNSIGNED-PAYLOAD-TRAILER body whose trailer says ``crc``."""
    body = (
        f"{len(data):x}\r\n".encode()
        + data
        + f"\r\n0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n".encode()
    )
    req = AWSRequest(
        "PUT",
        f"http://127.0.0.1:{aws_env['port']}/{bucket}/{key}",
        headers={
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(len(data)),
            "x-amz-trailer": "x-amz-checksum-crc32",
        },
    )
    creds = Credentials(aws_env["AWS_ACCESS_KEY_ID"], aws_env["AWS_SECRET_ACCESS_KEY"])

    class TrailerAuth(S3SigV4Auth):
        def payload(self, request: AWSRequest) -> str:
            return "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

    TrailerAuth(creds, "s3", "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", aws_env["port"], timeout=10)
    headers = dict(req.headers.items())
    headers["Content-Length"] = str(len(body))
    conn.request("PUT", f"/{bucket}/{key}", body=body, headers=headers)
    resp = conn.getresponse()
    answer = resp.status, resp.getheader("x-amz-checksum-crc32"), resp.read()
    conn.close()
    return answer


def test_unsigned_trailer_checksum_bodies(boto3_client, aws_env) -> None:
    """STREAMING-UNSIGNED-PAYLOAD-TRAILER (what botocore sends over HTTPS, and CLI v2): the
    framing and the checksum trailer are removed, never stored; the trailer is verified."""
    import zlib

    s3 = boto3_client("s3")
    bucket = _bucket(s3)
    data = os.urandom(50_000)
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    status, echoed, body = _trailer_put(aws_env, bucket, "trailer", data, crc)
    assert (status, echoed) == (200, crc), body
    assert s3.get_object(Bucket=bucket, Key="trailer")["Body"].read() == data
    wrong = base64.b64encode((zlib.crc32(data) ^ 1).to_bytes(4, "big")).decode()
    status, _, body = _trailer_put(aws_env, bucket, "bad-trailer", data, wrong)
    assert status == 400 and b"<Code>BadDigest</Code>" in body
    with pytest.raises(botocore.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="bad-trailer")  # nothing stored


def test_user_metadata_and_crc32c(boto3_client) -> None:
    """x-amz-meta-* kept by Put, Copy (COPY and REPLACE) and multipart, returned by Get/Head;
    CRC32C verified (botocore passes a given value through without computing it)."""
    import google_crc32c

    s3 = boto3_client("s3")
    bucket = _bucket(s3)
    meta = {"origin": "notebook", "run": "7"}
    s3.put_object(Bucket=bucket, Key="m", Body=b"data", Metadata=meta, ContentType="text/csv")
    assert s3.head_object(Bucket=bucket, Key="m")["Metadata"] == meta
    assert s3.get_object(Bucket=bucket, Key="m")["Metadata"] == meta
    s3.copy_object(Bucket=bucket, Key="kept", CopySource={"Bucket": bucket, "Key": "m"})
    kept = s3.head_object(Bucket=bucket, Key="kept")
    assert kept["Metadata"] == meta and kept["ContentType"] == "text/csv"
    s3.copy_object(
        Bucket=bucket,
        Key="replaced",
        CopySource={"Bucket": bucket, "Key": "m"},
        Metadata={"new": "1"},
        MetadataDirective="REPLACE",
        ContentType="application/json",
    )
    replaced = s3.head_object(Bucket=bucket, Key="replaced")
    assert replaced["Metadata"] == {"new": "1"} and replaced["ContentType"] == "application/json"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s3.put_object(Bucket=bucket, Key="big", Body=b"x", Metadata={"a": "v" * 3000})
    assert _code(err) == "MetadataTooLarge"
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", Metadata={"parts": "1"})
    part = s3.upload_part(
        Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=b"p"
    )
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert s3.head_object(Bucket=bucket, Key="mp")["Metadata"] == {"parts": "1"}
    data = b"crc32c body"
    good = base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()
    put = s3.put_object(Bucket=bucket, Key="c", Body=data, ChecksumCRC32C=good)
    assert put["ChecksumCRC32C"] == good
    bad = base64.b64encode((google_crc32c.value(data) ^ 1).to_bytes(4, "big")).decode()
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s3.put_object(Bucket=bucket, Key="c2", Body=data, ChecksumCRC32C=bad)
    assert _code(err) == "BadDigest"
    with pytest.raises(botocore.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="c2")


def test_malformed_content_length_is_a_clean_400(aws_env) -> None:
    for value in (b"abc", b"-1", b"1e3", b"\xb2", b"5, 5"):
        with socket.create_connection(("127.0.0.1", aws_env["port"]), timeout=10) as sock:
            sock.sendall(
                b"PUT /b/k HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: AWS4-HMAC-SHA256 "
                b"Credential=" + aws_env["AWS_ACCESS_KEY_ID"].encode() + b"/20260101/us-east-1/"
                b"s3/aws4_request, SignedHeaders=host, Signature=" + b"0" * 64 + b"\r\n"
                b"Content-Length: " + value + b"\r\n\r\nhello"
            )
            answer = sock.makefile("rb").read()
        assert answer.startswith(b"HTTP/1.1 400 "), (value, answer[:200])
        assert b"<Code>InvalidArgument</Code>" in answer and b"Content-Length" in answer


def test_signature_time_limits(aws_env) -> None:
    """Presigned URLs expire; header-signed requests dated too far from now are refused."""
    from stepline.awsapi import AwsError, _auth

    url = f"http://127.0.0.1:{aws_env['port']}/bucket/key"
    creds = Credentials(aws_env["AWS_ACCESS_KEY_ID"], aws_env["AWS_SECRET_ACCESS_KEY"])
    req = AWSRequest("GET", url)
    S3SigV4QueryAuth(creds, "s3", "us-east-1", expires=60).add_auth(req)
    path, _, query = req.url.split(str(aws_env["port"]), 1)[1].partition("?")
    headers = {"host": f"127.0.0.1:{aws_env['port']}"}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STEPLINE_HOME", aws_env["STEPLINE_HOME"])
        assert _auth.verify("GET", path, query, headers, None).service == "s3"
        with pytest.raises(AwsError, match="expired"):
            _auth.verify("GET", path, query, headers, None, now=time.time() + 61)
        signed = AWSRequest("GET", url)
        S3SigV4Auth(creds, "s3", "us-east-1").add_auth(signed)
        plain = {k.lower(): v for k, v in signed.headers.items()} | headers
        assert _auth.verify("GET", "/bucket/key", "", plain, None).access_key
        with pytest.raises(AwsError) as err:
            _auth.verify("GET", "/bucket/key", "", plain, None, now=time.time() + 16 * 60)
        assert err.value.code == "RequestTimeTooSkewed"
        with pytest.raises(AwsError) as err:
            _auth.verify("GET", "/bucket/other", "", plain, None)
        assert err.value.code == "SignatureDoesNotMatch"


def test_expect_continue_is_answered_before_the_body(aws_env, boto3_client) -> None:
    s3 = boto3_client("s3")
    bucket = _bucket(s3)
    req = AWSRequest(
        "PUT",
        f"http://127.0.0.1:{aws_env['port']}/{bucket}/e",
        data=b"payload",
        headers={"Expect": "100-continue"},
    )
    req.headers["x-amz-content-sha256"] = hashlib.sha256(b"payload").hexdigest()
    creds = Credentials(aws_env["AWS_ACCESS_KEY_ID"], aws_env["AWS_SECRET_ACCESS_KEY"])
    S3SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
    with socket.create_connection(("127.0.0.1", aws_env["port"]), timeout=5) as sock:
        head = f"PUT /{bucket}/e HTTP/1.1\r\nHost: 127.0.0.1:{aws_env['port']}\r\n"
        for name, value in req.headers.items():
            head += f"{name}: {value}\r\n"
        head += "Content-Length: 7\r\n\r\n"
        sock.sendall(head.encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"payload")
        assert sock.recv(1000).startswith(b"HTTP/1.1 200 ")
    assert s3.get_object(Bucket=bucket, Key="e")["Body"].read() == b"payload"


def test_sagemaker_sdk_default_bucket_and_upload(client_env, boto3_client, tmp_path) -> None:
    """A notebook's first lines, configured by ``stepline env`` alone: the SDK's default
    bucket is created here (not on AWS) and ``upload_data`` lands in stepline's store."""
    data = tmp_path / "train.csv"
    data.write_text("1,2\n3,4\n")
    code = (
        "import sys, sagemaker\n"
        "s = sagemaker.Session()\n"
        "b = s.default_bucket()\n"
        "print(b)\n"
        "print(s.upload_data(sys.argv[1], bucket=b, key_prefix='nb/data'))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(data)],
        env={**client_env, "SAGEMAKER_SUPPRESS_V2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    bucket, uri = res.stdout.split()[-2:]
    assert bucket == "sagemaker-us-east-1-000000000000"
    assert uri == f"s3://{bucket}/nb/data/train.csv"
    body = boto3_client("s3").get_object(Bucket=bucket, Key="nb/data/train.csv")["Body"].read()
    assert body == b"1,2\n3,4\n"
