"""Any S3-compatible server (AWS S3, SeaweedFS, MinIO ...) through boto3.

Transfers go through boto3's own transfer manager (multipart, parallel parts and files,
retries) tuned by one :class:`TransferConfig`; listings use ListObjectsV2 and its paginator.
S3 itself makes every PUT atomic, and the transfer manager downloads to a temp file that it
renames into place, so both directions are atomic without extra work here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import boto3
from boto3.s3.transfer import (
    BaseSubscriber,
    S3UploadFailedError,
    TransferConfig,
    create_transfer_manager,
)
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from stepline.storage.base import (
    InvalidBucketName,
    ListPage,
    NoSuchBucket,
    NoSuchKey,
    ObjectInfo,
    ObjectStore,
    Progress,
    StorageError,
    _walk_files,
    guess_content_type,
    join_key,
    parse_s3_uri,
    s3_uri,
    validate_bucket_name,
    validate_key,
)

if TYPE_CHECKING:
    from stepline.storage.settings import StoreSettings

MiB = 1024 * 1024

#: Multipart above 64 MiB in 16 MiB parts; 16 parallel parts/files.  Fewer, larger parts
#: than boto3's 8 MiB default suit dataset and model files; concurrency suits staging many.
TRANSFER_CONFIG = TransferConfig(
    multipart_threshold=64 * MiB,
    multipart_chunksize=16 * MiB,
    max_concurrency=16,
    use_threads=True,
)

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


@contextlib.contextmanager
def _errors(what: str) -> Iterator[None]:
    """Turn botocore errors into :class:`StorageError` subclasses naming ``what``."""
    try:
        yield
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        if code in _NOT_FOUND:
            raise NoSuchKey(f"no such key: {what}") from None
        if code == "NoSuchBucket":
            raise NoSuchBucket(f"no such bucket: {what}") from None
        if code == "InvalidBucketName":
            raise InvalidBucketName(f"invalid bucket name: {what}") from None
        raise StorageError(f"{what}: {code}: {err.get('Message', exc)}") from None
    except S3UploadFailedError as exc:
        raise StorageError(f"upload to {what} failed: {exc}") from None
    except BotoCoreError as exc:
        raise StorageError(f"{what}: {exc}") from None


class S3Store(ObjectStore):
    """An S3-compatible server; ``client`` is a boto3 S3 client (see :func:`get_store`)."""

    kind = "s3"

    def __init__(self, client: Any, transfer_config: TransferConfig = TRANSFER_CONFIG) -> None:
        self.client = client
        self.transfer_config = transfer_config

    @classmethod
    def connect(
        cls,
        endpoint_url: str | None = None,
        *,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        region: str | None = None,
        profile: str | None = None,
    ) -> S3Store:
        """Build a client; unset arguments fall back to boto3's usual chain (env, profile).

        Path-style addressing when an endpoint is given, since local servers rarely serve
        ``bucket.host`` names; a connection pool big enough for the transfer concurrency.
        """
        session = boto3.session.Session(profile_name=profile)
        config = Config(
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            max_pool_connections=TRANSFER_CONFIG.max_request_concurrency + 4,
            retries={"max_attempts": 5, "mode": "standard"},
        )
        client = session.client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=session_token,
            region_name=region or os.environ.get("AWS_REGION") or None,
            config=config,
        )
        return cls(client)

    def __repr__(self) -> str:
        return f"S3Store({self.client.meta.endpoint_url!r})"

    # -- buckets --------------------------------------------------------------------------

    def create_bucket(self, name: str) -> None:
        validate_bucket_name(name)
        kwargs: dict[str, Any] = {"Bucket": name}
        region = self.client.meta.region_name
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            with _errors(f"s3://{name}"):
                self.client.create_bucket(**kwargs)
        except StorageError as exc:
            if "BucketAlreadyOwnedByYou" not in str(exc):
                raise

    def list_buckets(self) -> list[str]:
        with _errors("list buckets"):
            return sorted(b["Name"] for b in self.client.list_buckets().get("Buckets", []))

    # -- single objects -------------------------------------------------------------------

    def put_bytes(
        self,
        uri: str,
        data: bytes,
        content_type: str | None = None,
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        bucket, key = parse_s3_uri(uri)
        with _errors(uri):
            self.client.put_object(
                Bucket=bucket,
                Key=key,
                Body=data,
                ContentType=content_type or guess_content_type(key),
                Metadata=dict(metadata or {}),
            )
        return self.head(uri)

    def put_fileobj(
        self,
        uri: str,
        fileobj: BinaryIO,
        content_type: str | None = None,
        progress: Progress | None = None,
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        bucket, key = parse_s3_uri(uri)
        extra: dict[str, Any] = {"ContentType": content_type or guess_content_type(key)}
        if metadata:
            extra["Metadata"] = dict(metadata)
        with _errors(uri):
            self.client.upload_fileobj(
                fileobj,
                bucket,
                key,
                ExtraArgs=extra,
                Callback=progress,
                Config=self.transfer_config,
            )
        return self.head(uri)

    def put_file(
        self,
        uri: str,
        path: str | os.PathLike[str],
        content_type: str | None = None,
        progress: Progress | None = None,
    ) -> ObjectInfo:
        bucket, key = parse_s3_uri(uri)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no such file: {path}")
        with _errors(uri):
            self.client.upload_file(
                os.fspath(path),
                bucket,
                key,
                ExtraArgs={"ContentType": content_type or guess_content_type(key)},
                Callback=progress,
                Config=self.transfer_config,
            )
        return self.head(uri)

    def get_bytes(self, uri: str) -> bytes:
        bucket, key = parse_s3_uri(uri)
        with _errors(uri):
            return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()

    def download_file(
        self, uri: str, path: str | os.PathLike[str], progress: Progress | None = None
    ) -> Path:
        bucket, key = parse_s3_uri(uri)
        dest = Path(path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with _errors(uri):
            self.client.download_file(
                bucket, key, os.fspath(dest), Callback=progress, Config=self.transfer_config
            )
        return dest

    def head(self, uri: str) -> ObjectInfo:
        bucket, key = parse_s3_uri(uri)
        with _errors(uri):
            resp = self.client.head_object(Bucket=bucket, Key=key)
        return ObjectInfo(
            bucket=bucket,
            key=key,
            size=resp["ContentLength"],
            etag=resp.get("ETag", "").strip('"'),
            last_modified=resp.get("LastModified"),
            content_type=resp.get("ContentType"),
            metadata=dict(resp.get("Metadata") or {}),
        )

    def copy(
        self,
        src_uri: str,
        dst_uri: str,
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        src_bucket, src_key = parse_s3_uri(src_uri)
        bucket, key = parse_s3_uri(dst_uri)
        self.head(src_uri)  # a clear NoSuchKey naming the source
        extra: dict[str, Any] | None = None
        if metadata is not None:
            extra = {
                "MetadataDirective": "REPLACE",
                "Metadata": dict(metadata),
                "ContentType": content_type or guess_content_type(key),
            }
        with _errors(f"copy {src_uri} to {dst_uri}"):
            self.client.copy(
                {"Bucket": src_bucket, "Key": src_key},
                bucket,
                key,
                ExtraArgs=extra,
                Config=self.transfer_config,
            )
        return self.head(dst_uri)

    def delete(self, uri: str) -> None:
        bucket, key = parse_s3_uri(uri)
        with _errors(uri):
            self.client.delete_object(Bucket=bucket, Key=key)

    def delete_prefix(self, prefix_uri: str) -> int:
        """DeleteObjects in batches of 1000 (S3's limit per request)."""
        bucket, _ = parse_s3_uri(prefix_uri, allow_prefix=True)
        keys = [info.key for info in self.list(prefix_uri)]
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            with _errors(prefix_uri):
                resp = self.client.delete_objects(
                    Bucket=bucket, Delete={"Objects": batch, "Quiet": True}
                )
            if resp.get("Errors"):
                first = resp["Errors"][0]
                raise StorageError(
                    f"could not delete s3://{bucket}/{first.get('Key')}: {first.get('Message')}"
                )
        return len(keys)

    # -- listing --------------------------------------------------------------------------

    @staticmethod
    def _info(bucket: str, item: dict) -> ObjectInfo:
        return ObjectInfo(
            bucket=bucket,
            key=item["Key"],
            size=item.get("Size", 0),
            etag=item.get("ETag", "").strip('"'),
            last_modified=item.get("LastModified"),
        )

    def list_page(
        self,
        prefix_uri: str,
        delimiter: str | None = None,
        max_keys: int = 1000,
        continuation_token: str | None = None,
    ) -> ListPage:
        bucket, prefix = parse_s3_uri(prefix_uri, allow_prefix=True)
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": max_keys}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        if continuation_token:
            kwargs["ContinuationToken"] = continuation_token
        with _errors(prefix_uri):
            resp = self.client.list_objects_v2(**kwargs)
        return ListPage(
            objects=[self._info(bucket, item) for item in resp.get("Contents", [])],
            common_prefixes=[p["Prefix"] for p in resp.get("CommonPrefixes", [])],
            next_token=resp.get("NextContinuationToken") if resp.get("IsTruncated") else None,
        )

    def list(self, prefix_uri: str, recursive: bool = True) -> Iterator[ObjectInfo]:
        bucket, prefix = parse_s3_uri(prefix_uri, allow_prefix=True)
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if not recursive:
            kwargs["Delimiter"] = "/"
        with _errors(prefix_uri):
            for page in self.client.get_paginator("list_objects_v2").paginate(**kwargs):
                entries = [self._info(bucket, item) for item in page.get("Contents", [])]
                entries += [
                    ObjectInfo(bucket=bucket, key=p["Prefix"], is_prefix=True)
                    for p in page.get("CommonPrefixes", [])
                ]
                entries.sort(key=lambda e: e.key.encode("utf-8", "surrogatepass"))
                yield from entries

    # -- jobs -----------------------------------------------------------------------------

    def stage(self, prefix_uri: str, dest_dir: str | os.PathLike[str]) -> list[Path]:
        """Download everything under the prefix in parallel with boto3's transfer manager."""
        dest_root = Path(dest_dir)
        dest_root.mkdir(parents=True, exist_ok=True)
        targets = self._stage_targets(prefix_uri, dest_root)
        with _errors(prefix_uri), create_transfer_manager(self.client, self.transfer_config) as tm:
            futures = []
            for info, target in targets:
                target.parent.mkdir(parents=True, exist_ok=True)
                futures.append(tm.download(info.bucket, info.key, os.fspath(target)))
            for future in futures:
                future.result()
        return [target for _, target in targets]

    def upload_dir(
        self, src_dir: str | os.PathLike[str], prefix_uri: str, progress: Progress | None = None
    ) -> list[ObjectInfo]:
        """Upload every file in parallel with boto3's transfer manager, then list them once."""
        bucket, prefix = parse_s3_uri(prefix_uri, allow_prefix=True)
        root = Path(src_dir)
        keys = {validate_key(join_key(prefix, rel)): rel for rel in _walk_files(root)}
        subscribers = [_ProgressSubscriber(progress)] if progress else None
        with _errors(prefix_uri), create_transfer_manager(self.client, self.transfer_config) as tm:
            futures = [
                tm.upload(
                    os.fspath(root / rel),
                    bucket,
                    key,
                    extra_args={"ContentType": guess_content_type(key)},
                    subscribers=subscribers,
                )
                for key, rel in keys.items()
            ]
            for future in futures:
                future.result()
        if not keys:
            return []
        listed = {info.key: info for info in self.list(s3_uri(bucket, prefix)) if info.key in keys}
        results = []
        for key in sorted(keys, key=lambda k: k.encode("utf-8", "surrogatepass")):
            info = listed.get(key) or self.head(s3_uri(bucket, key))
            results.append(
                ObjectInfo(
                    bucket, key, info.size, info.etag, info.last_modified, guess_content_type(key)
                )
            )
        return results


class _ProgressSubscriber(BaseSubscriber):
    """Adapts a ``progress(nbytes)`` callable to s3transfer's subscriber protocol."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress

    def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
        self._progress(bytes_transferred)


def from_settings(settings: StoreSettings) -> S3Store:
    """An S3 server's store (the ``s3`` backend): the configured endpoint and credentials,
    else boto3's usual chain."""
    return S3Store.connect(
        settings.endpoint_url,
        access_key_id=settings.access_key_id,
        secret_access_key=settings.secret_access_key,
        session_token=settings.session_token,
        region=settings.region,
        profile=settings.profile,
    )
