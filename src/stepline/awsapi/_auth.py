"""This home's AWS credentials, and AWS Signature Version 4 checked against them.

Why per-home credentials: the AWS-compatible API is a control plane on loopback, so it must
know who calls it.  The first use generates an access key id and a secret key into
``$STEPLINE_HOME/secrets/aws-credentials.json`` (folder 0700, file 0600; the job sandbox hides
that folder), and ``stepline env`` hands them to AWS's clients.  Jobs get the same pair in their
environment, as SageMaker jobs get their execution role's credentials.

Verification follows AWS's SigV4 specification for both header auth (``Authorization:
AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/aws4_request, ...``) and presigned URLs
(``X-Amz-Credential``, ``X-Amz-Signature``, ``X-Amz-Expires``), with S3's canonical URI rule
(the path as sent) and every other service's (each segment URI-encoded again).  Streaming
uploads (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``) have every chunk signature checked as the body
is decoded (see :func:`decode_aws_chunked`).
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import string
import tempfile
import time
from calendar import timegm
from dataclasses import dataclass
from urllib.parse import SplitResult, quote, unquote

from stepline import config
from stepline.awsapi._base import AwsError

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
#: Requests signed further than this from now are refused (AWS allows 15 minutes).
MAX_SKEW = 15 * 60
#: The longest a presigned URL may be valid (AWS: 7 days).
MAX_EXPIRES = 7 * 24 * 3600
_AUTH_RE = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*Signature=(?P<sig>[0-9a-f]{64})\s*$"
)
_KEY_CHARS = string.ascii_uppercase + string.digits


def _secrets_dir() -> os.PathLike[str]:
    path = config.home() / "secrets"
    path.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


_cache: dict[str, tuple[tuple[int, int], tuple[str, str]]] = {}


def credentials() -> tuple[str, str]:
    """``(access_key_id, secret_access_key)`` of this ``$STEPLINE_HOME``, created on first use.

    Creation is atomic and race-free (a hard link that fails if another process won), so two
    processes starting at once agree on one pair.  Every signed request asks for them: the
    pair is cached per file version (inode, mtime), so a replaced file is read again."""
    path = str(config.home() / "secrets" / "aws-credentials.json")
    try:
        st = os.stat(path)
        cached = _cache.get(path)
        if cached is not None and cached[0] == (st.st_ino, st.st_mtime_ns):
            return cached[1]
    except OSError:
        st = None
    folder = _secrets_dir()
    for _ in range(2):
        try:
            with open(path) as fh:
                data = json.load(fh)
                version = os.fstat(fh.fileno())
            pair = str(data["access_key_id"]), str(data["secret_access_key"])
            _cache[path] = ((version.st_ino, version.st_mtime_ns), pair)
            return pair
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError) as exc:
            raise config.ConfigError(f"{path}: unreadable AWS credentials ({exc})") from None
        pair = {
            "access_key_id": "SLAK" + "".join(secrets.choice(_KEY_CHARS) for _ in range(16)),
            "secret_access_key": secrets.token_urlsafe(30)[:40],
        }
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".cred-")
        try:
            with os.fdopen(fd, "w") as fh:  # mkstemp creates it 0600
                json.dump(pair, fh)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                continue  # another process created it first: use theirs
        finally:
            os.unlink(tmp)
    return credentials()


@dataclass(frozen=True)
class Scope:
    """What a verified signature says about the caller."""

    access_key: str
    date: str  # YYYYMMDD
    region: str
    service: str
    signature: str  # the request's own signature (seed of aws-chunked chunk signatures)
    amz_date: str  # X-Amz-Date, YYYYMMDDTHHMMSSZ

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


def _denied(code: str, message: str) -> AwsError:
    return AwsError(code, message, 403)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


@functools.lru_cache(maxsize=64)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The derived SigV4 key for one day, region and service (cached: four HMACs a request
    otherwise, for the same few keys all day)."""
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def _uri_encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    for part in path.split("/"):
        if part == ".":
            continue
        if part == "..":
            if len(out) > 1:
                out.pop()
            continue
        out.append(part)
    result = "/".join(out)
    if path.endswith(("/.", "/..")):
        result += "/"
    return result or "/"


def canonical_uri(raw_path: str, service: str) -> str:
    """S3 signs the path as sent; every other service signs it URI-encoded once more."""
    if service == "s3":
        return raw_path or "/"
    return quote(_remove_dot_segments(raw_path or "/"), safe="/~")


def canonical_query(pairs: list[tuple[str, str]], *, skip_signature: bool = False) -> str:
    """Sorted ``key=value`` pairs, each URI-encoded (decoded pairs in, as SigV4 says)."""
    encoded = sorted(
        (_uri_encode(k), _uri_encode(v))
        for k, v in pairs
        if not (skip_signature and k == "X-Amz-Signature")
    )
    return "&".join(f"{k}={v}" for k, v in encoded)


_AMZ_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z", re.ASCII)


def _parse_amz_date(value: str) -> float:
    """Seconds since the epoch of ``YYYYMMDDTHHMMSSZ`` (by hand: strptime is slow)."""
    match = _AMZ_DATE.fullmatch(value)
    try:
        if match is None:
            raise ValueError(value)
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        datetime.datetime(year, month, day, hour, minute, second)  # a real date and time
    except ValueError:
        raise _denied(
            "IncompleteSignature", f"X-Amz-Date {value!r} is not YYYYMMDDTHHMMSSZ"
        ) from None
    return float(timegm((year, month, day, hour, minute, second, 0, 0, 0)))


def _split_credential(credential: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise _denied(
            "IncompleteSignature",
            f"Credential {credential!r} is not ACCESSKEY/DATE/REGION/SERVICE/aws4_request",
        )
    return parts[0], parts[1], parts[2], parts[3]


def _raw_query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """Query pairs decoded as SigV4 canonicalisation needs (``+`` is a literal plus)."""
    pairs = []
    for piece in raw_query.split("&") if raw_query else []:
        key, _, value = piece.partition("=")
        pairs.append((unquote(key), unquote(value)))
    return pairs


@dataclass(frozen=True)
class _Claim:
    """What a request says about its signature, before it is checked."""

    credential: str  # AK/DATE/REGION/SERVICE/aws4_request
    signed: str  # SignedHeaders, ';'-separated
    signature: str
    amz_date: str
    payload_hash: str


def _presigned_claim(query: list[tuple[str, str]], now: float) -> _Claim:
    """The claim of a presigned URL (``X-Amz-*`` query parameters), its validity checked."""
    params = dict(query)
    if params.get("X-Amz-Algorithm") != ALGORITHM:
        raise _denied("IncompleteSignature", f"X-Amz-Algorithm must be {ALGORITHM}")
    try:
        credential = params["X-Amz-Credential"]
        signed = params["X-Amz-SignedHeaders"]
        signature = params["X-Amz-Signature"]
        amz_date = params["X-Amz-Date"]
        expires = int(params.get("X-Amz-Expires", "900"))
    except (KeyError, ValueError) as exc:
        raise _denied("IncompleteSignature", f"presigned URL lacks a valid {exc}") from None
    if not 0 < expires <= MAX_EXPIRES:
        raise _denied("AuthorizationQueryParametersError", "X-Amz-Expires out of range")
    signed_at = _parse_amz_date(amz_date)
    if now > signed_at + expires:
        raise _denied("AccessDenied", "Request has expired")
    if signed_at > now + MAX_SKEW:
        raise _denied("RequestTimeTooSkewed", "The presigned URL is dated in the future")
    return _Claim(credential, signed, signature, amz_date, "UNSIGNED-PAYLOAD")


def _header_claim(
    auth: str, headers: dict[str, str], body_sha256: str | None, now: float
) -> _Claim:
    """The claim of an ``Authorization: AWS4-HMAC-SHA256 ...`` header, its date checked."""
    match = _AUTH_RE.match(auth)
    if match is None:
        if auth.startswith("AWS "):
            raise _denied("InvalidRequest", "Signature Version 2 is not supported; use SigV4")
        raise _denied("IncompleteSignature", "Authorization header is not AWS4-HMAC-SHA256")
    amz_date = headers.get("x-amz-date") or ""
    if not amz_date:
        raise _denied("IncompleteSignature", "Request lacks the X-Amz-Date header")
    if abs(now - _parse_amz_date(amz_date)) > MAX_SKEW:
        raise _denied(
            "RequestTimeTooSkewed",
            "The difference between the request time and the server's time is too large",
        )
    payload_hash = headers.get("x-amz-content-sha256") or body_sha256 or EMPTY_SHA256
    return _Claim(match["cred"], match["signed"], match["sig"], amz_date, payload_hash)


def _canonical_request(
    method: str,
    raw_path: str,
    query: list[tuple[str, str]],
    headers: dict[str, str],
    claim: _Claim,
    service: str,
    presigned: bool,
) -> str:
    """SigV4's canonical request: method, URI, query, the signed headers, payload hash."""
    names = claim.signed.split(";")
    if "host" not in names:
        raise _denied("SignatureDoesNotMatch", "SignedHeaders must include host")
    header_lines = []
    for name in names:
        value = headers.get(name)
        if value is None:
            raise _denied("SignatureDoesNotMatch", f"signed header {name!r} is missing")
        header_lines.append(f"{name}:{' '.join(value.split())}\n")
    return "\n".join(
        [
            method,
            canonical_uri(raw_path, service),
            canonical_query(query, skip_signature=presigned),
            "".join(header_lines),
            claim.signed,
            claim.payload_hash,
        ]
    )


def verify(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: dict[str, str],
    body_sha256: str | None,
    *,
    now: float | None = None,
) -> Scope:
    """Check the request's SigV4 signature; the caller's :class:`Scope` or :class:`AwsError`.

    ``body_sha256``: the hex SHA-256 of the body, or None to trust the signed
    ``x-amz-content-sha256`` (the caller then checks that header against the body)."""
    now = time.time() if now is None else now
    auth = headers.get("authorization")
    query = _raw_query_pairs(raw_query)
    presigned = auth is None and any(k == "X-Amz-Signature" for k, _ in query)
    if auth is None and not presigned:
        raise _denied(
            "MissingAuthenticationToken",
            'Request is missing a SigV4 signature; run eval "$(stepline env)" to give AWS\'s '
            "clients this home's credentials",
        )
    if presigned:
        claim = _presigned_claim(query, now)
    else:
        claim = _header_claim(auth or "", headers, body_sha256, now)
    access_key, date, region, service = _split_credential(claim.credential)
    if claim.amz_date[:8] != date:
        raise _denied("SignatureDoesNotMatch", "Credential date does not match X-Amz-Date")
    known_key, secret = credentials()
    if not hmac.compare_digest(access_key, known_key):
        raise _denied(
            "InvalidClientTokenId" if service != "s3" else "InvalidAccessKeyId",
            "The security token included in the request is invalid (not this stepline "
            'home\'s access key; run eval "$(stepline env)")',
        )
    canonical = _canonical_request(method, raw_path, query, headers, claim, service, presigned)
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        [ALGORITHM, claim.amz_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()]
    )
    expected = hmac.new(
        signing_key(secret, date, region, service), to_sign.encode("utf-8"), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, claim.signature):
        raise _denied(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.",
        )
    return Scope(access_key, date, region, service, claim.signature, claim.amz_date)


def decode_aws_chunked(
    body: bytes, scope: Scope | None, *, signed: bool
) -> tuple[bytes, dict[str, str]]:
    """The payload of an ``aws-chunked`` body, framing removed; chunk signatures checked; and
    its trailers (``x-amz-checksum-crc32: ...``, names lower-case).

    Each chunk is ``HEX[;chunk-signature=SIG]\\r\\nDATA\\r\\n``, ending with a zero-size chunk,
    optionally followed by trailer headers, which botocore sends over HTTPS with the body's
    checksum: the caller verifies them, they are never stored as data."""
    out: list[bytes] = []
    pos = 0
    previous = scope.signature if scope is not None else ""
    key = None
    if signed and scope is not None:
        key = signing_key(credentials()[1], scope.date, scope.region, scope.service)
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0:
            raise AwsError("IncompleteBody", "aws-chunked body ends inside a chunk header")
        header = body[pos:end].decode("latin-1")
        size_text, _, ext = header.partition(";")
        try:
            size = int(size_text.strip(), 16)
        except ValueError:
            raise AwsError("InvalidRequest", f"bad aws-chunked chunk size {size_text!r}") from None
        start = end + 2
        data = body[start : start + size]
        if len(data) != size:
            raise AwsError("IncompleteBody", "aws-chunked body is shorter than its chunk sizes")
        if key is not None and scope is not None:
            name, _, sig = ext.partition("=")
            if name.strip() != "chunk-signature":
                raise _denied("SignatureDoesNotMatch", "aws-chunked chunk lacks its signature")
            to_sign = "\n".join(
                [
                    "AWS4-HMAC-SHA256-PAYLOAD",
                    scope.amz_date,
                    scope.scope,
                    previous,
                    EMPTY_SHA256,
                    hashlib.sha256(data).hexdigest(),
                ]
            )
            expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, sig.strip()):
                raise _denied("SignatureDoesNotMatch", "aws-chunked chunk signature mismatch")
            previous = expected
        if size == 0:
            return b"".join(out), _trailers(body[start:])
        out.append(data)
        pos = start + size
        if body[pos : pos + 2] != b"\r\n":
            raise AwsError("InvalidRequest", "aws-chunked chunk is not followed by CRLF")
        pos += 2


def _trailers(rest: bytes) -> dict[str, str]:
    """``name: value`` lines after the last chunk, up to a blank line (or the end)."""
    found: dict[str, str] = {}
    for line in rest.split(b"\r\n"):
        if not line:
            break
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name.strip():
            raise AwsError("InvalidRequest", f"malformed aws-chunked trailer {line[:60]!r}")
        found[name.strip().lower()] = value.strip()
    return found


def is_v2_presigned(raw_query: str) -> bool:
    """An S3 URL presigned with Signature Version 2 (boto3's default for ``generate_presigned_url``
    on S3): ``AWSAccessKeyId``, ``Signature`` and ``Expires`` in the query."""
    names = {piece.partition("=")[0] for piece in raw_query.split("&")} if raw_query else set()
    return {"AWSAccessKeyId", "Signature", "Expires"} <= names


def verify_v2_presigned(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: dict[str, str],
    auth_path: str,
    *,
    now: float | None = None,
) -> Scope:
    """Check an S3 SigV2 presigned URL (HMAC-SHA1, botocore's own canonical string)."""
    from botocore.auth import HmacV1Auth
    from botocore.credentials import Credentials

    now = time.time() if now is None else now
    params = dict(_raw_query_pairs(raw_query))
    try:
        expires = int(params["Expires"])
    except ValueError:
        raise _denied("AccessDenied", "Expires is not a number") from None
    if now > expires:
        raise _denied("AccessDenied", "Request has expired")
    if expires > now + MAX_EXPIRES:
        raise _denied("AccessDenied", "Expires is too far in the future")
    known_key, secret = credentials()
    if not hmac.compare_digest(params["AWSAccessKeyId"], known_key):
        raise _denied("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist")

    class _Signer(HmacV1Auth):
        def _get_date(self) -> str:  # a presigned URL signs its expiry in place of a date
            return str(expires)

    signer = _Signer(Credentials(known_key, secret))
    split = SplitResult("http", headers.get("host", ""), raw_path, raw_query, "")
    canonical_headers = {k: v for k, v in headers.items() if k.startswith("x-amz-")}
    for name in ("content-md5", "content-type"):
        if name in headers:
            canonical_headers[name] = headers[name]
    expected = signer.get_signature(method, split, canonical_headers, auth_path=auth_path)
    if not hmac.compare_digest(expected, params["Signature"]):
        raise _denied(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return Scope(known_key, stamp[:8], config.region(), "s3", "", stamp)
