"""Model archives are hostile input: members that would land outside /opt/ml/model are refused."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from stepline.serving.artifacts import UnsafeArchive, safe_extract


def _archive(path: Path, members: list[tarfile.TarInfo], data: dict[str, bytes] | None = None):
    with tarfile.open(path, "w:gz") as tar:
        for info in members:
            payload = (data or {}).get(info.name)
            if payload is not None:
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            else:
                tar.addfile(info)
    return path


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _link(name: str, target: str, hard: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info


@pytest.mark.parametrize(
    ("members", "data", "why"),
    [
        ([_file("../evil.txt")], {"../evil.txt": b"x"}, r"\.\."),
        ([_file("a/../../evil.txt")], {"a/../../evil.txt": b"x"}, r"\.\."),
        ([_file("/etc/evil.txt")], {"/etc/evil.txt": b"x"}, "absolute"),
        ([_link("up", "../outside")], None, "points outside"),
        ([_link("abs", "/etc/passwd")], None, "points outside"),
        ([_link("hard", "/etc/passwd", hard=True)], None, "points outside"),
        ([_link("sub/deep", "../../x")], None, "points outside"),
    ],
)
def test_escaping_members_are_refused(tmp_path: Path, members, data, why) -> None:
    archive = _archive(tmp_path / "m.tar.gz", members, data)
    dest = tmp_path / "model"
    with pytest.raises(UnsafeArchive, match=why):
        safe_extract(archive, dest)
    assert not (tmp_path / "evil.txt").exists()
    assert not any(dest.rglob("*")) if dest.exists() else True


def test_link_chains_are_caught_by_the_data_filter(tmp_path: Path) -> None:
    # "here" -> "." is harmless alone, but "here/.." through it would leave the folder.
    archive = _archive(
        tmp_path / "m.tar.gz",
        [_link("here", "."), _link("esc", "here/../..")],
    )
    with pytest.raises(UnsafeArchive):
        safe_extract(archive, tmp_path / "model")


def test_devices_are_refused(tmp_path: Path) -> None:
    info = tarfile.TarInfo("dev")
    info.type = tarfile.CHRTYPE
    with pytest.raises(UnsafeArchive, match="device"):
        safe_extract(_archive(tmp_path / "m.tar.gz", [info]), tmp_path / "model")


def test_a_normal_archive_with_inner_links_extracts(tmp_path: Path) -> None:
    archive = _archive(
        tmp_path / "m.tar.gz",
        [_file("code/inference.py"), _link("latest", "code/inference.py"), _file("model.json")],
        {"code/inference.py": b"print(1)", "model.json": b"{}"},
    )
    names = safe_extract(archive, tmp_path / "model")
    assert sorted(names) == ["code/inference.py", "latest", "model.json"]
    assert (tmp_path / "model" / "latest").read_bytes() == b"print(1)"
