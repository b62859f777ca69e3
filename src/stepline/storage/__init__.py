"""The object store: ``s3://bucket/key`` on the embedded store or any S3-compatible server.

Use :func:`get_store` to get the configured :class:`ObjectStore`; see
:mod:`stepline.storage.base` for the interface and :mod:`stepline.storage.settings` for how
the backend is chosen.
"""

from stepline.storage.base import (
    InvalidBucketName,
    InvalidKey,
    InvalidURI,
    ListPage,
    NoSuchBucket,
    NoSuchKey,
    ObjectInfo,
    ObjectStore,
    StorageError,
    parse_s3_uri,
    s3_uri,
    stage_relative_path,
    validate_bucket_name,
    validate_key,
)
from stepline.storage.settings import StoreSettings, get_store, load_settings

__all__ = [
    "InvalidBucketName",
    "InvalidKey",
    "InvalidURI",
    "ListPage",
    "NoSuchBucket",
    "NoSuchKey",
    "ObjectInfo",
    "ObjectStore",
    "StorageError",
    "StoreSettings",
    "get_store",
    "load_settings",
    "parse_s3_uri",
    "s3_uri",
    "stage_relative_path",
    "validate_bucket_name",
    "validate_key",
]
