"""Amazon S3's REST-XML API over stepline's one object store (``stepline.storage.get_store()``).

Why: the SageMaker SDK uploads code and data (``upload_data``, ``sourcedir.tar.gz``), job code
reads S3 with boto3, and people use ``aws s3 cp/ls/sync``.  Every object lands in the same store
that jobs stage from and that ``stepline s3`` and the console show.

Path style (``/bucket/key``) and virtual-hosted style (``bucket.localhost:PORT``).  Operations:
ListBuckets, CreateBucket, HeadBucket (a 404 has no body), DeleteBucket, GetBucketLocation;
PutObject, GetObject (Range, If-Match, If-None-Match), HeadObject, DeleteObject,
DeleteObjects, CopyObject; ListObjectsV2 and ListObjects (prefix, delimiter, continuation
token, start-after/marker, max-keys, ``encoding-type=url``); multipart uploads (create, parts
in any order and concurrently, complete with the ``"...-N"`` ETag, abort, list parts).

Checksums botocore sends (``x-amz-checksum-crc32``/``crc32c``/``sha1``/``sha256``, as headers
or as ``aws-chunked`` trailers) are verified (``BadDigest`` on a mismatch, nothing stored) and
echoed; CRC64NVME is accepted unverified (no well-kept library computes it without AWS's CRT);
none is ever stored as data.  ``x-amz-expected-bucket-owner`` is checked against the configured
account; ``x-amz-server-side-encryption`` is accepted and echoed (the store does not encrypt).
User metadata (``x-amz-meta-*``, at most 2 KB as on AWS) is kept by PutObject, CopyObject
(``x-amz-metadata-directive`` COPY or REPLACE) and multipart uploads, and returned by
GetObject and HeadObject.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import google_crc32c

from stepline import config
from stepline.awsapi._base import AwsError, AwsRequest, AwsResponse, write_file
from stepline.storage import (
    InvalidBucketName,
    InvalidKey,
    InvalidURI,
    NoSuchBucket,
    NoSuchKey,
    ObjectInfo,
    ObjectStore,
    StorageError,
    get_store,
    s3_uri,
)
from stepline.storage.local import META_DIR, LocalStore

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MIN_PART = 5 * 1024 * 1024
READ_CHUNK = 1024 * 1024
MAX_PARTS = 10000
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
_CHECKSUMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")
_META = "x-amz-meta-"
#: AWS's limit on user metadata: names and values, UTF-8, added up.
MAX_METADATA_BYTES = 2048


def _xml(root: str, inner: str) -> bytes:
    return f'{_XML_HEAD}<{root} xmlns="{NS}">{inner}</{root}>'.encode()


def _iso(moment: datetime | None) -> str:
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _http_date(moment: datetime | None) -> str:
    return format_datetime((moment or datetime.now(UTC)).astimezone(UTC), usegmt=True)


def _etag(info: ObjectInfo) -> str:
    return '"' + info.etag.strip('"') + '"'


def _checksum_value(name: str, data: bytes) -> str | None:
    """The base64 checksum of ``data`` for algorithms this server can compute."""
    if name == "crc32":
        return base64.b64encode((zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")).decode()
    if name == "crc32c":
        return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()
    if name in ("sha1", "sha256"):
        return base64.b64encode(hashlib.new(name, data).digest()).decode()
    return None


def virtual_bucket(host: str) -> str | None:
    """The bucket a virtual-hosted-style Host names, or None for path style.

    ``BUCKET.localhost`` (a client pointed at ``http://localhost:PORT``), and AWS's own names,
    reached through the HTTPS proxy: ``BUCKET.s3.amazonaws.com``, ``BUCKET.s3.REGION...``,
    ``BUCKET.s3-REGION...``, ``BUCKET.s3.dualstack.REGION...``, ``BUCKET.s3-accelerate...``
    (the last ``s3``/``s3-*`` label starts the endpoint: bucket names may hold dots)."""
    name = host.lower().rstrip(".")
    if name.endswith(".localhost"):
        return name[: -len(".localhost")] or None
    if not name.endswith(".amazonaws.com"):
        return None
    labels = name[: -len(".amazonaws.com")].split(".")
    for index in range(len(labels) - 1, -1, -1):
        if labels[index] == "s3" or labels[index].startswith("s3-"):
            return ".".join(labels[:index]) or None
    return None


def _user_metadata(req: AwsRequest) -> dict[str, str]:
    """The request's ``x-amz-meta-*`` headers as ``name -> value`` (names lower-case)."""
    found = {k[len(_META) :]: v for k, v in req.headers.items() if k.startswith(_META)}
    size = sum(len(k.encode()) + len(v.encode("latin-1", "replace")) for k, v in found.items())
    if size > MAX_METADATA_BYTES:
        raise AwsError(
            "MetadataTooLarge",
            f"Your metadata headers exceed the maximum allowed metadata size "
            f"({size} > {MAX_METADATA_BYTES} bytes)",
        )
    return found


def _metadata_headers(info: ObjectInfo) -> dict[str, str]:
    return {f"{_META}{k}": v for k, v in info.metadata.items()}


class S3Service:
    """The S3 REST-XML service; one instance, stateless but for multipart uploads on disk."""

    name = "s3"

    def accepts(self, req: AwsRequest) -> bool:
        return req.service == "s3"

    # -- plumbing -------------------------------------------------------------------------

    @property
    def store(self) -> ObjectStore:
        return get_store()

    def _uploads_dir(self) -> Path:
        path = config.home() / "awsapi" / "multipart"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @staticmethod
    def _address(req: AwsRequest) -> tuple[str, str]:
        """(bucket, key) from the virtual host or the path; key percent-decoded."""
        path = req.path
        bucket = virtual_bucket(req.host)
        if bucket is not None:
            key = unquote(path[1:]) if path.startswith("/") else unquote(path)
            return bucket, key
        bucket, _, key = path[1:].partition("/")
        return unquote(bucket), unquote(key)

    def handle(self, req: AwsRequest) -> AwsResponse:
        bucket, key = self._address(req)
        owner = req.header("x-amz-expected-bucket-owner")
        if owner is not None and owner != config.account_id():
            raise AwsError("AccessDenied", "Access Denied", 403)
        try:
            return self._route(req, bucket, key)
        except NoSuchBucket:
            raise AwsError(
                "NoSuchBucket", f"The specified bucket does not exist: {bucket}", 404
            ) from None
        except NoSuchKey:
            raise AwsError("NoSuchKey", f"The specified key does not exist: {key}", 404) from None
        except InvalidBucketName as exc:
            raise AwsError("InvalidBucketName", str(exc)) from None
        except (InvalidKey, InvalidURI) as exc:
            raise AwsError("InvalidArgument", str(exc)) from None
        except StorageError as exc:
            raise AwsError("InternalError", str(exc), 500, sender_fault=False) from None

    def _route(self, req: AwsRequest, bucket: str, key: str) -> AwsResponse:
        m = req.method
        if not bucket:
            if m == "GET":
                return self.list_buckets(req)
            raise AwsError("MethodNotAllowed", f"{m} / is not supported", 405)
        if not key:
            if m == "PUT":
                return self.create_bucket(req, bucket)
            if m == "HEAD":
                return self.head_bucket(req, bucket)
            if m == "DELETE":
                return self.delete_bucket(req, bucket)
            if m == "POST" and req.has_param("delete"):
                return self.delete_objects(req, bucket)
            if m == "GET":
                if req.has_param("location"):
                    return self.get_bucket_location(req, bucket)
                if req.has_param("uploads"):
                    return self.list_multipart_uploads(req, bucket)
                return self.list_objects(req, bucket)
            raise AwsError("MethodNotAllowed", f"{m} on a bucket is not supported", 405)
        upload_id = req.param("uploadId")
        if m == "PUT":
            if upload_id is not None:
                return self.upload_part(req, bucket, key, upload_id)
            if req.header("x-amz-copy-source"):
                return self.copy_object(req, bucket, key)
            return self.put_object(req, bucket, key)
        if m in ("GET", "HEAD"):
            if upload_id is not None and m == "GET":
                return self.list_parts(req, bucket, key, upload_id)
            return self.get_object(req, bucket, key, head=m == "HEAD")
        if m == "DELETE":
            if upload_id is not None:
                return self.abort_multipart(req, bucket, key, upload_id)
            return self.delete_object(req, bucket, key)
        if m == "POST":
            if req.has_param("uploads"):
                return self.create_multipart(req, bucket, key)
            if upload_id is not None:
                return self.complete_multipart(req, bucket, key, upload_id)
        raise AwsError("MethodNotAllowed", f"{m} on an object is not supported", 405)

    def _base_headers(self, req: AwsRequest) -> dict[str, str]:
        headers = {}
        sse = req.header("x-amz-server-side-encryption")
        if sse is not None:
            headers["x-amz-server-side-encryption"] = sse
            kms = req.header("x-amz-server-side-encryption-aws-kms-key-id")
            if kms is not None:
                headers["x-amz-server-side-encryption-aws-kms-key-id"] = kms
        return headers

    def _check_body(self, req: AwsRequest, data: bytes) -> dict[str, str]:
        """Verify Content-MD5 and checksum headers; the checksum headers to echo."""
        md5 = req.header("content-md5")
        if md5 is not None:
            try:
                expected = base64.b64decode(md5, validate=True)
            except (binascii.Error, ValueError):
                raise AwsError(
                    "InvalidDigest", "The Content-MD5 you specified was invalid"
                ) from None
            if hashlib.md5(data).digest() != expected:
                raise AwsError(
                    "BadDigest", "The Content-MD5 you specified did not match what we received."
                )
        echo = {}
        for name in _CHECKSUMS:
            value = req.header(f"x-amz-checksum-{name}")
            if value is None:
                continue
            signed_sha = req.header("x-amz-content-sha256") or ""
            if name == "sha256" and req.payload_signed and len(signed_sha) == 64:
                # the gateway already hashed this body to check the signature: reuse it
                actual: str | None = base64.b64encode(bytes.fromhex(signed_sha)).decode()
            else:
                actual = _checksum_value(name, data)
            if actual is not None and actual != value:
                raise AwsError(
                    "BadDigest",
                    f"The {name.upper()} you specified did not match the calculated checksum.",
                )
            echo[f"x-amz-checksum-{name}"] = value
        return echo

    # -- buckets --------------------------------------------------------------------------

    def _bucket_created(self, store: ObjectStore, bucket: str) -> datetime:
        root = getattr(store, "root", None)
        if isinstance(root, Path):
            try:
                return datetime.fromtimestamp((root / bucket).stat().st_mtime, UTC)
            except OSError:
                pass
        return datetime(2024, 1, 1, tzinfo=UTC)

    def list_buckets(self, req: AwsRequest) -> AwsResponse:
        store = self.store
        account = config.account_id()
        items = "".join(
            f"<Bucket><Name>{escape(name)}</Name>"
            f"<CreationDate>{_iso(self._bucket_created(store, name))}</CreationDate>"
            f"<BucketRegion>{config.region()}</BucketRegion></Bucket>"
            for name in store.list_buckets()
        )
        body = _xml(
            "ListAllMyBucketsResult",
            f"<Owner><ID>{account}</ID><DisplayName>stepline</DisplayName></Owner>"
            f"<Buckets>{items}</Buckets>",
        )
        return AwsResponse(200, {"Content-Type": "application/xml"}, body)

    def _bucket_exists(self, store: ObjectStore, bucket: str) -> bool:
        return bucket in store.list_buckets()

    def create_bucket(self, req: AwsRequest, bucket: str) -> AwsResponse:
        store = self.store
        if self._bucket_exists(store, bucket) and config.region() != "us-east-1":
            raise AwsError(
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you already "
                "own it.",
                409,
            )
        store.create_bucket(bucket)
        return AwsResponse(200, {"Location": f"/{bucket}"}, b"")

    def head_bucket(self, req: AwsRequest, bucket: str) -> AwsResponse:
        if not self._bucket_exists(self.store, bucket):
            raise AwsError("NotFound", "Not Found", 404)
        return AwsResponse(
            200,
            {"x-amz-bucket-region": config.region(), "Content-Type": "application/xml"},
            b"",
        )

    def get_bucket_location(self, req: AwsRequest, bucket: str) -> AwsResponse:
        if not self._bucket_exists(self.store, bucket):
            raise NoSuchBucket(bucket)
        region = config.region()
        inner = "" if region == "us-east-1" else escape(region)
        body = f'{_XML_HEAD}<LocationConstraint xmlns="{NS}">{inner}</LocationConstraint>'
        return AwsResponse(200, {"Content-Type": "application/xml"}, body.encode())

    def delete_bucket(self, req: AwsRequest, bucket: str) -> AwsResponse:
        store = self.store
        if not self._bucket_exists(store, bucket):
            raise NoSuchBucket(bucket)
        page = store.list_page(s3_uri(bucket), max_keys=1)
        if page.objects or page.common_prefixes:
            raise AwsError("BucketNotEmpty", "The bucket you tried to delete is not empty", 409)
        remove = getattr(store, "delete_bucket", None)
        if remove is not None:
            remove(bucket)
        else:
            root = getattr(store, "root", None)
            if not isinstance(root, Path):
                raise AwsError("NotImplemented", "This object store cannot delete buckets", 501)
            for folder in (root / bucket, root / META_DIR / bucket):
                if folder.is_dir() and not folder.is_symlink():
                    shutil.rmtree(folder)
        return AwsResponse(204, {}, b"")

    # -- objects --------------------------------------------------------------------------

    def put_object(self, req: AwsRequest, bucket: str, key: str) -> AwsResponse:
        echo = self._check_body(req, req.body)
        info = self.store.put_bytes(
            s3_uri(bucket, key),
            req.body,
            req.header("content-type") or None,
            metadata=_user_metadata(req),
        )
        headers = {"ETag": _etag(info), **echo, **self._base_headers(req)}
        return AwsResponse(200, headers, b"")

    def copy_object(self, req: AwsRequest, bucket: str, key: str) -> AwsResponse:
        source = unquote((req.header("x-amz-copy-source") or "").split("?", 1)[0])
        src_bucket, _, src_key = source.lstrip("/").partition("/")
        if not src_bucket or not src_key:
            raise AwsError("InvalidArgument", f"x-amz-copy-source {source!r} is not BUCKET/KEY")
        store = self.store
        src = s3_uri(src_bucket, src_key)
        if_match = req.header("x-amz-copy-source-if-match")
        if if_match is not None and if_match.strip('"') != store.head(src).etag.strip('"'):
            raise AwsError("PreconditionFailed", "At least one of the preconditions failed", 412)
        directive = (req.header("x-amz-metadata-directive") or "COPY").upper()
        if directive not in ("COPY", "REPLACE"):
            raise AwsError(
                "InvalidArgument",
                f"x-amz-metadata-directive {directive[:20]!r} is not COPY or REPLACE",
            )
        if directive == "REPLACE":
            info = store.copy(
                src,
                s3_uri(bucket, key),
                metadata=_user_metadata(req),
                content_type=req.header("content-type") or None,
            )
        else:
            info = store.copy(src, s3_uri(bucket, key))
        body = _xml(
            "CopyObjectResult",
            f"<LastModified>{_iso(info.last_modified)}</LastModified>"
            f"<ETag>{escape(_etag(info))}</ETag>",
        )
        headers = {"Content-Type": "application/xml", **self._base_headers(req)}
        return AwsResponse(200, headers, body)

    def get_object(self, req: AwsRequest, bucket: str, key: str, *, head: bool) -> AwsResponse:
        store = self.store
        uri = s3_uri(bucket, key)
        info, read = _open_object(store, uri)
        try:
            return self._answer_get(req, info, read, head=head)
        except BaseException:
            read(0, -1)  # nothing to send: close what _open_object opened
            raise

    def _answer_get(
        self,
        req: AwsRequest,
        info: ObjectInfo,
        read: Callable[[int, int], Iterator[bytes] | bytes],
        *,
        head: bool,
    ) -> AwsResponse:
        etag = _etag(info)
        headers = {
            "ETag": etag,
            "Last-Modified": _http_date(info.last_modified),
            "Content-Type": info.content_type or "binary/octet-stream",
            "Accept-Ranges": "bytes",
            **_metadata_headers(info),
        }
        if_match = req.header("if-match")
        if if_match is not None and if_match.strip() != "*":
            if etag.strip('"') not in [t.strip().strip('"') for t in if_match.split(",")]:
                raise AwsError(
                    "PreconditionFailed", "At least one of the preconditions failed", 412
                )
        if_none = req.header("if-none-match")
        if if_none is not None and etag.strip('"') in [
            t.strip().strip('"') for t in if_none.split(",")
        ]:
            read(0, -1)
            return AwsResponse(304, {"ETag": etag}, b"")
        since = req.header("if-modified-since")
        if since is not None and info.last_modified is not None:
            try:
                if info.last_modified.replace(microsecond=0) <= parsedate_to_datetime(since):
                    read(0, -1)
                    return AwsResponse(304, {"ETag": etag}, b"")
            except (TypeError, ValueError):
                pass
        size = info.size
        start, end = 0, size - 1
        status = 200
        wanted = req.header("range")
        if wanted is not None:
            match = _RANGE.match(wanted.strip())
            if match is None or (not match[1] and not match[2]):
                raise AwsError("InvalidRange", "The requested range is not satisfiable", 416)
            if match[1]:
                start = int(match[1])
                end = min(int(match[2]), size - 1) if match[2] else size - 1
            else:
                start, end = max(size - int(match[2]), 0), size - 1
            if start >= size or end < start:
                raise AwsError("InvalidRange", "The requested range is not satisfiable", 416)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(max(end - start + 1, 0))
        if head:
            read(0, -1)
            return AwsResponse(status, headers, b"")
        return AwsResponse(status, headers, read(start, end))

    def delete_object(self, req: AwsRequest, bucket: str, key: str) -> AwsResponse:
        store = self.store
        if not self._bucket_exists(store, bucket):
            raise NoSuchBucket(bucket)
        store.delete(s3_uri(bucket, key))
        return AwsResponse(204, {}, b"")

    def delete_objects(self, req: AwsRequest, bucket: str) -> AwsResponse:
        root = _parse_xml(req.body, "Delete")
        quiet = (_child_text(root, "Quiet") or "false").lower() == "true"
        store = self.store
        if not self._bucket_exists(store, bucket):
            raise NoSuchBucket(bucket)
        done, errors = [], []
        objects = [o for o in root if _local(o.tag) == "Object"]
        if len(objects) > 1000:
            raise AwsError("MalformedXML", "DeleteObjects takes at most 1000 keys")
        for obj in objects:
            key = _child_text(obj, "Key") or ""
            try:
                store.delete(s3_uri(bucket, key))
                if not quiet:
                    done.append(f"<Deleted><Key>{escape(key)}</Key></Deleted>")
            except StorageError as exc:
                errors.append(
                    f"<Error><Key>{escape(key)}</Key><Code>InvalidArgument</Code>"
                    f"<Message>{escape(str(exc))}</Message></Error>"
                )
        body = _xml("DeleteResult", "".join(done) + "".join(errors))
        return AwsResponse(200, {"Content-Type": "application/xml"}, body)

    # -- listing --------------------------------------------------------------------------

    def list_objects(self, req: AwsRequest, bucket: str) -> AwsResponse:
        v2 = req.param("list-type") == "2"
        prefix = req.param("prefix") or ""
        delimiter = req.param("delimiter") or ""
        encode = req.param("encoding-type") == "url"
        try:
            max_keys = int(req.param("max-keys") or "1000")
        except ValueError:
            raise AwsError("InvalidArgument", "max-keys must be an integer") from None
        if max_keys < 0:
            raise AwsError("InvalidArgument", "max-keys must not be negative")
        max_keys = min(max_keys, 1000)
        token = req.param("continuation-token")
        start_after = req.param("start-after" if v2 else "marker") or ""
        after, after_is_prefix = start_after, False
        if v2 and token is not None:
            after, after_is_prefix = _decode_token(token)
        store = self.store
        if not self._bucket_exists(store, bucket):
            raise NoSuchBucket(bucket)
        contents: list[ObjectInfo] = []
        prefixes: list[str] = []
        truncated = False
        last: tuple[str, bool] | None = None
        for info in _keys_after(store, bucket, prefix, after, after_is_prefix):
            rest = info.key[len(prefix) :]
            cut = rest.find(delimiter) if delimiter else -1
            entry = (prefix + rest[: cut + len(delimiter)], True) if cut >= 0 else (info.key, False)
            if entry[1] and prefixes and prefixes[-1] == entry[0]:
                continue
            if len(contents) + len(prefixes) >= max_keys:
                truncated = True
                break
            if entry[1]:
                prefixes.append(entry[0])
            else:
                contents.append(info)
            last = entry
        enc = (lambda s: quote(s, safe="/")) if encode else (lambda s: s)
        parts = [
            f"<Name>{escape(bucket)}</Name><Prefix>{escape(enc(prefix))}</Prefix>",
            f"<MaxKeys>{max_keys}</MaxKeys>",
        ]
        if delimiter:
            parts.append(f"<Delimiter>{escape(enc(delimiter))}</Delimiter>")
        if encode:
            parts.append("<EncodingType>url</EncodingType>")
        parts.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
        if v2:
            parts.append(f"<KeyCount>{len(contents) + len(prefixes)}</KeyCount>")
            if token is not None:
                parts.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
            if start_after:
                parts.append(f"<StartAfter>{escape(enc(start_after))}</StartAfter>")
            if truncated and last is not None:
                next_token = _encode_token(*last)
                parts.append(f"<NextContinuationToken>{next_token}</NextContinuationToken>")
        else:
            parts.append(f"<Marker>{escape(enc(start_after))}</Marker>")
            if truncated and last is not None and delimiter:
                parts.append(f"<NextMarker>{escape(enc(last[0]))}</NextMarker>")
        account = config.account_id()
        for info in contents:
            parts.append(
                f"<Contents><Key>{escape(enc(info.key))}</Key>"
                f"<LastModified>{_iso(info.last_modified)}</LastModified>"
                f"<ETag>{escape(_etag(info))}</ETag><Size>{info.size}</Size>"
                f"<Owner><ID>{account}</ID><DisplayName>stepline</DisplayName></Owner>"
                "<StorageClass>STANDARD</StorageClass></Contents>"
            )
        for cp in prefixes:
            parts.append(f"<CommonPrefixes><Prefix>{escape(enc(cp))}</Prefix></CommonPrefixes>")
        body = _xml("ListBucketResult", "".join(parts))
        return AwsResponse(200, {"Content-Type": "application/xml"}, body)

    # -- multipart ------------------------------------------------------------------------

    def _upload(self, bucket: str, key: str, upload_id: str) -> tuple[Path, dict[str, Any]]:
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise AwsError("NoSuchUpload", "The specified upload does not exist.", 404)
        folder = self._uploads_dir() / upload_id
        try:
            meta = json.loads((folder / "upload.json").read_text())
        except (OSError, ValueError):
            raise AwsError("NoSuchUpload", "The specified upload does not exist.", 404) from None
        if meta.get("bucket") != bucket or meta.get("key") != key:
            raise AwsError("NoSuchUpload", "The specified upload does not exist.", 404)
        return folder, meta

    def create_multipart(self, req: AwsRequest, bucket: str, key: str) -> AwsResponse:
        store = self.store
        if not self._bucket_exists(store, bucket):
            raise NoSuchBucket(bucket)
        s3_uri(bucket, key)  # validates the key before anything is written
        upload_id = secrets.token_urlsafe(24)
        folder = self._uploads_dir() / upload_id
        folder.mkdir()
        meta = {
            "bucket": bucket,
            "key": key,
            "content_type": req.header("content-type"),
            "metadata": _user_metadata(req),
            "initiated": time.time(),
        }
        write_file(folder / "upload.json", json.dumps(meta).encode())
        body = _xml(
            "InitiateMultipartUploadResult",
            f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
            f"<UploadId>{upload_id}</UploadId>",
        )
        headers = {"Content-Type": "application/xml", **self._base_headers(req)}
        algorithm = req.header("x-amz-checksum-algorithm")
        if algorithm is not None:
            headers["x-amz-checksum-algorithm"] = algorithm
        return AwsResponse(200, headers, body)

    def upload_part(self, req: AwsRequest, bucket: str, key: str, upload_id: str) -> AwsResponse:
        folder, _ = self._upload(bucket, key, upload_id)
        number = _part_number(req.param("partNumber"))
        if req.header("x-amz-copy-source"):
            raise AwsError("NotImplemented", "UploadPartCopy is not supported", 501)
        echo = self._check_body(req, req.body)
        etag = hashlib.md5(req.body).hexdigest()
        write_file(folder / f"part-{number:05d}", req.body)
        write_file(folder / f"part-{number:05d}.etag", etag.encode())
        headers = {"ETag": f'"{etag}"', **echo, **self._base_headers(req)}
        return AwsResponse(200, headers, b"")

    def _parts(self, folder: Path) -> dict[int, tuple[str, int, float]]:
        """``number -> (etag, size, mtime)`` of the uploaded parts."""
        parts = {}
        for path in folder.glob("part-[0-9][0-9][0-9][0-9][0-9]"):
            try:
                etag = (folder / f"{path.name}.etag").read_text()
                st = path.stat()
            except OSError:
                continue
            parts[int(path.name[5:])] = (etag, st.st_size, st.st_mtime)
        return parts

    def complete_multipart(
        self, req: AwsRequest, bucket: str, key: str, upload_id: str
    ) -> AwsResponse:
        folder, meta = self._upload(bucket, key, upload_id)
        root = _parse_xml(req.body, "CompleteMultipartUpload")
        wanted: list[tuple[int, str]] = []
        for part in root:
            if _local(part.tag) != "Part":
                continue
            number = _part_number(_child_text(part, "PartNumber"))
            wanted.append((number, (_child_text(part, "ETag") or "").strip().strip('"')))
        if not wanted:
            raise AwsError("MalformedXML", "CompleteMultipartUpload lists no parts")
        numbers = [n for n, _ in wanted]
        if numbers != sorted(set(numbers)):
            raise AwsError("InvalidPartOrder", "The list of parts was not in ascending order.", 400)
        have = self._parts(folder)
        for index, (number, etag) in enumerate(wanted):
            if number not in have or (etag and etag != have[number][0]):
                raise AwsError(
                    "InvalidPart",
                    f"One or more of the specified parts could not be found (part {number}).",
                )
            if index < len(wanted) - 1 and have[number][1] < MIN_PART:
                raise AwsError(
                    "EntityTooSmall",
                    f"Part {number} is {have[number][1]} bytes; all parts but the last must be "
                    f"at least {MIN_PART} bytes.",
                )
        digest = hashlib.md5(b"".join(bytes.fromhex(have[n][0]) for n, _ in wanted))
        final_etag = f'"{digest.hexdigest()}-{len(wanted)}"'
        files = [folder / f"part-{n:05d}" for n, _ in wanted]
        self.store.put_fileobj(
            s3_uri(bucket, key),
            _Concat(files),
            meta.get("content_type"),
            metadata=meta.get("metadata") or {},
        )
        shutil.rmtree(folder, ignore_errors=True)
        body = _xml(
            "CompleteMultipartUploadResult",
            f"<Location>/{escape(bucket)}/{escape(key)}</Location>"
            f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
            f"<ETag>{escape(final_etag)}</ETag>",
        )
        headers = {"Content-Type": "application/xml", **self._base_headers(req)}
        return AwsResponse(200, headers, body)

    def abort_multipart(
        self, req: AwsRequest, bucket: str, key: str, upload_id: str
    ) -> AwsResponse:
        folder, _ = self._upload(bucket, key, upload_id)
        shutil.rmtree(folder, ignore_errors=True)
        return AwsResponse(204, {}, b"")

    def list_parts(self, req: AwsRequest, bucket: str, key: str, upload_id: str) -> AwsResponse:
        folder, _ = self._upload(bucket, key, upload_id)
        marker = int(req.param("part-number-marker") or "0")
        max_parts = min(int(req.param("max-parts") or "1000"), 1000)
        numbers = sorted(n for n in self._parts(folder) if n > marker)
        have = self._parts(folder)
        shown, truncated = numbers[:max_parts], len(numbers) > max_parts
        items = "".join(
            f"<Part><PartNumber>{n}</PartNumber>"
            f"<LastModified>{_iso(datetime.fromtimestamp(have[n][2], UTC))}</LastModified>"
            f'<ETag>"{have[n][0]}"</ETag><Size>{have[n][1]}</Size></Part>'
            for n in shown
        )
        account = config.account_id()
        body = _xml(
            "ListPartsResult",
            f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
            f"<UploadId>{upload_id}</UploadId><PartNumberMarker>{marker}</PartNumberMarker>"
            f"<NextPartNumberMarker>{shown[-1] if shown else marker}</NextPartNumberMarker>"
            f"<MaxParts>{max_parts}</MaxParts>"
            f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
            f"<Owner><ID>{account}</ID></Owner><Initiator><ID>{account}</ID></Initiator>"
            f"<StorageClass>STANDARD</StorageClass>{items}",
        )
        return AwsResponse(200, {"Content-Type": "application/xml"}, body)

    def list_multipart_uploads(self, req: AwsRequest, bucket: str) -> AwsResponse:
        items = []
        for folder in sorted(self._uploads_dir().iterdir()):
            try:
                meta = json.loads((folder / "upload.json").read_text())
            except (OSError, ValueError):
                continue
            if meta.get("bucket") != bucket:
                continue
            started = datetime.fromtimestamp(meta.get("initiated", 0), UTC)
            items.append(
                f"<Upload><Key>{escape(meta['key'])}</Key><UploadId>{folder.name}</UploadId>"
                f"<Initiated>{_iso(started)}</Initiated></Upload>"
            )
        body = _xml(
            "ListMultipartUploadsResult",
            f"<Bucket>{escape(bucket)}</Bucket><IsTruncated>false</IsTruncated>" + "".join(items),
        )
        return AwsResponse(200, {"Content-Type": "application/xml"}, body)


class _Concat:
    """A read-only file object over several files in turn (the parts of an upload)."""

    def __init__(self, files: list[Path]) -> None:
        self.files = list(files)
        self.current: Any = None

    def read(self, size: int = -1) -> bytes:
        out = bytearray()
        while size < 0 or len(out) < size:
            if self.current is None:
                if not self.files:
                    break
                self.current = open(self.files.pop(0), "rb")  # noqa: SIM115 - closed below
            chunk = self.current.read(-1 if size < 0 else size - len(out))
            if not chunk:
                self.current.close()
                self.current = None
                continue
            out += chunk
        return bytes(out)

    def close(self) -> None:
        if self.current is not None:
            self.current.close()


class _FileRange:
    """Bytes ``start..end`` of an open file, in chunks; closes the file when done, on
    :meth:`close` (the gateway calls it) or when collected."""

    def __init__(self, fd: int, start: int, end: int) -> None:
        self.fd: int | None = fd
        self.pos, self.end = start, end

    def __iter__(self) -> _FileRange:
        return self

    def __next__(self) -> bytes:
        if self.fd is None or self.pos > self.end:
            self.close()
            raise StopIteration
        chunk = os.pread(self.fd, min(READ_CHUNK, self.end + 1 - self.pos), self.pos)
        if not chunk:
            self.close()
            raise StopIteration
        self.pos += len(chunk)
        return chunk

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        self.close()


def _open_object(
    store: ObjectStore, uri: str
) -> tuple[ObjectInfo, Callable[[int, int], Iterator[bytes] | bytes]]:
    """The object's metadata and ``read(start, end)`` of exactly that version of it.

    The embedded store is read from one open file, in chunks (a ranged GET of a large object
    costs its range, not the object; metadata and bytes come from the same inode).  Other
    stores are read whole.  ``read(0, -1)`` releases the object without reading it."""
    opener = getattr(store, "_open", None)
    describe = getattr(store, "_info", None)
    if isinstance(store, LocalStore) and opener is not None and describe is not None:
        bucket, key, fd, meta_path = opener(uri)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise NoSuchKey(uri)
            info = describe(bucket, key, st, meta_path, fd)
        except BaseException:
            os.close(fd)
            raise
        body = _FileRange(fd, 0, -1)  # owns the fd from here on

        def read_file(start: int, end: int) -> Iterator[bytes]:
            body.pos, body.end = start, end
            if end < start:
                body.close()
            return body

        return info, read_file
    info = store.head(uri)

    def read_whole(start: int, end: int) -> bytes:
        return store.get_bytes(uri)[start : end + 1] if end >= start else b""

    return info, read_whole


def _keys_after(
    store: ObjectStore, bucket: str, prefix: str, after: str, after_is_prefix: bool
) -> Iterator[ObjectInfo]:
    """Objects under ``prefix`` (key order) after ``after`` (and, if a common prefix, its keys).

    The embedded store's continuation token is the last key it returned, so the listing starts
    at ``after`` there instead of paging through everything before it."""
    token = None
    if after and isinstance(store, LocalStore):
        token = after + "\U0010ffff" if after_is_prefix else after
    while True:
        page = store.list_page(s3_uri(bucket, prefix), continuation_token=token)
        for info in page.objects:
            key = info.key
            if after:
                if _utf8(key) <= _utf8(after):
                    continue
                if after_is_prefix and key.startswith(after):
                    continue
            yield info
        if page.next_token is None:
            return
        token = page.next_token


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _encode_token(last: str, is_prefix: bool) -> str:
    raw = json.dumps([last, is_prefix]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: str) -> tuple[str, bool]:
    try:
        last, is_prefix = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(last), bool(is_prefix)
    except (ValueError, TypeError, binascii.Error):
        raise AwsError("InvalidArgument", "The continuation token provided is incorrect") from None


def _part_number(value: str | None) -> int:
    try:
        number = int(value or "")
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_PARTS:
        raise AwsError(
            "InvalidArgument", f"Part number must be an integer between 1 and {MAX_PARTS}"
        )
    return number


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(element: ElementTree.Element, name: str) -> str | None:
    for child in element:
        if _local(child.tag) == name:
            return child.text
    return None


def _parse_xml(body: bytes, root_name: str) -> ElementTree.Element:
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise AwsError("MalformedXML", "XML with a DOCTYPE is not accepted")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise AwsError("MalformedXML", f"The XML you provided was not well-formed: {exc}") from None
    if _local(root.tag) != root_name:
        raise AwsError("MalformedXML", f"expected a <{root_name}> document")
    return root


SERVICE = S3Service()
