"""Source archives for exact-source builds: content hash, lookup, unpacking, download, fallback.

The archives here are small ones the tests make; the real firmware archives are exercised by
tests/test_exact_builds.py where they are present.
"""

from __future__ import annotations

import dataclasses
import http.server
import io
import re
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from closebench.bench import exact_source
from closebench.bench.exact import families
from closebench.bench.exact_source import Archive, SourceUnavailable
from closebench.bench.variant_build import planned_provenance, resolve
from closebench.errors import UserError
from closebench.variants.manifest import Source, SourceArchive, load_variant, load_variant_file

COMMIT = "0123456789abcdef0123456789abcdef01234567"
FILES = {
    "src/core/tcp.c": b"int tcp;\n",
    "src/include/opt.h": b"#define X 1\n",
    "doc/readme.txt": b"not built\n",
}


def make_archive(path: Path, top: str, files: dict[str, bytes], symlinks=None) -> Path:
    """A .tar.gz with one top folder, as GitHub's download and `git archive --prefix` make."""
    with tarfile.open(path, "w:gz") as tar:
        for rel, data in files.items():
            info = tarfile.TarInfo(f"{top}/{rel}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for rel, target in (symlinks or {}).items():
            info = tarfile.TarInfo(f"{top}/{rel}")
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return path


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Own sources folder and cache: nothing of the user's is read or written."""
    sources = tmp_path / "sources"
    sources.mkdir()
    monkeypatch.setenv("CLOSEBENCH_SOURCES", str(sources))
    monkeypatch.setenv("CLOSEBENCH_CACHE", str(tmp_path / "cache"))
    return sources


def archive_for(sources: Path, files=FILES, top: str | None = None) -> Archive:
    name = f"demo+stack@{COMMIT}.tar.gz"
    make_archive(sources / name, top or f"stack-{COMMIT}", files)
    digest, _ = exact_source.archive_tree_sha256(sources / name, ["src"])
    return Archive("demo/stack", COMMIT, ("src",), digest)


def test_full_download_and_path_limited_archive_hash_alike(tmp_path: Path) -> None:
    full = make_archive(tmp_path / "full.tar.gz", f"stack-{COMMIT}", FILES)
    limited = make_archive(
        tmp_path / "limited.tar.gz",
        "another-top-folder",
        {k: v for k, v in FILES.items() if k.startswith("src/")},
    )
    h_full, n_full = exact_source.archive_tree_sha256(full, ["src"])
    h_limited, n_limited = exact_source.archive_tree_sha256(limited, ["src"])
    assert (h_full, n_full) == (h_limited, n_limited) == (h_full, 2)


def test_hash_covers_paths_and_bytes_only_of_the_listed_paths(tmp_path: Path) -> None:
    base, _ = exact_source.archive_tree_sha256(
        make_archive(tmp_path / "a.tar.gz", "t", FILES), ["src"]
    )
    outside = dict(FILES, **{"doc/readme.txt": b"changed\n"})
    inside = dict(FILES, **{"src/core/tcp.c": b"int tcp; \n"})
    renamed = {("src/core/tcp2.c" if k == "src/core/tcp.c" else k): v for k, v in FILES.items()}
    digest = exact_source.archive_tree_sha256
    assert digest(make_archive(tmp_path / "b.tar.gz", "t", outside), ["src"])[0] == base
    assert digest(make_archive(tmp_path / "c.tar.gz", "t", inside), ["src"])[0] != base
    assert digest(make_archive(tmp_path / "d.tar.gz", "t", renamed), ["src"])[0] != base
    # a path prefix is a folder, not a string prefix: "sr" covers nothing
    assert digest(tmp_path / "a.tar.gz", ["sr"])[1] == 0


def test_hash_of_unpacked_tree_equals_hash_of_archive(isolated: Path) -> None:
    archive = archive_for(isolated)
    tree = exact_source.unpack(archive)
    assert exact_source.folder_tree_sha256(tree, ["src"]) == archive.tree_sha256
    assert (tree / "src/core/tcp.c").read_bytes() == FILES["src/core/tcp.c"]
    assert not (tree / "doc").exists()  # only what the build reads is unpacked


def test_symlinks_are_hashed_by_target(tmp_path: Path) -> None:
    a = make_archive(tmp_path / "a.tar.gz", "t", FILES, {"src/link.h": "include/opt.h"})
    b = make_archive(tmp_path / "b.tar.gz", "t", FILES, {"src/link.h": "core/tcp.c"})
    assert (
        exact_source.archive_tree_sha256(a, ["src"])[0]
        != exact_source.archive_tree_sha256(b, ["src"])[0]
    )


def test_wrong_content_is_refused_with_both_hashes(isolated: Path) -> None:
    archive = dataclasses.replace(archive_for(isolated), tree_sha256="0" * 64)
    with pytest.raises(
        UserError, match=r"content hash mismatch .*expected 0{64}, got [0-9a-f]{64}"
    ):
        exact_source.unpack(archive)
    assert not exact_source.trees_cache().joinpath(archive.filename[:-7]).exists()


def test_not_a_tarball_is_one_line(isolated: Path) -> None:
    archive = archive_for(isolated)
    (isolated / archive.filename).write_bytes(b"<html>rate limited</html>")
    with pytest.raises(UserError, match=r"not a readable \.tar\.gz"):
        exact_source.unpack(archive)


def test_missing_archive_names_file_folders_and_git_archive_command(isolated: Path) -> None:
    archive = Archive("demo/stack", COMMIT, ("src", "include"), "0" * 64)
    with pytest.raises(SourceUnavailable) as err:
        exact_source.unpack(archive)
    text = str(err.value)
    assert "\n" not in text
    assert f"demo+stack@{COMMIT}.tar.gz" in text and str(isolated) in text
    assert f"git archive --prefix=stack-{COMMIT}/ -o demo+stack@{COMMIT}.tar.gz" in text
    assert text.endswith(f"{COMMIT} src include`")


def test_unpacked_tree_is_reused_and_redone_when_stale(isolated: Path) -> None:
    archive = archive_for(isolated)
    tree = exact_source.unpack(archive)
    marker = tree / "src" / "added-later"
    marker.write_text("x")
    assert exact_source.unpack(archive) == tree and marker.exists()  # stamp matches: reused
    (tree / ".closebench-tree-sha256").write_text("stale\n")
    assert exact_source.unpack(archive) == tree and not marker.exists()


class _Archives(http.server.BaseHTTPRequestHandler):
    payload = b""

    def do_GET(self) -> None:
        status = 200 if self.path.endswith(f"/{COMMIT}.tar.gz") else 404
        body = self.payload if status == 200 else b"no such commit"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def archive_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Archives]]:
    """A loopback stand-in for GitHub's archive download."""
    handler = type("Handler", (_Archives,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    monkeypatch.setenv(
        "CLOSEBENCH_SOURCES_URL", f"http://127.0.0.1:{port}/{{repo}}/{{commit}}.tar.gz"
    )
    yield handler
    server.shutdown()
    server.server_close()


def test_download_verifies_then_keeps_the_archive(isolated: Path, archive_server, tmp_path) -> None:
    archive = archive_for(tmp_path)  # made elsewhere: not in the sources folders
    archive_server.payload = (tmp_path / archive.filename).read_bytes()
    assert exact_source.find_archive(archive) is None
    path = exact_source.download(archive, log=lambda _m: None)
    assert exact_source.find_archive(archive) == path
    assert exact_source.unpack(archive).is_dir()


def test_download_of_altered_archive_leaves_nothing(
    isolated: Path, archive_server, tmp_path
) -> None:
    archive = archive_for(tmp_path)
    altered = make_archive(
        tmp_path / "altered.tar.gz", "t", dict(FILES, **{"src/core/tcp.c": b"evil\n"})
    )
    archive_server.payload = altered.read_bytes()
    with pytest.raises(UserError, match="content hash mismatch"):
        exact_source.download(archive, log=lambda _m: None)
    assert exact_source.find_archive(archive) is None
    assert not list((exact_source.sources_dirs()[-1]).glob("*.part"))


def test_download_failure_says_how_to_get_it_by_hand(isolated: Path, archive_server) -> None:
    archive = Archive("demo/stack", "f" * 40, ("src",), "0" * 64)
    with pytest.raises(UserError, match=r"download of .* failed .*HTTP Error 404.*git archive"):
        exact_source.download(archive, log=lambda _m: None)


# --- the manifests' [source] tables and the fallback ------------------------------------------


def test_manifest_archives_are_pinned_by_full_commit_and_hash() -> None:
    variant = load_variant("nodemcu-2016")
    assert variant.source is not None
    (archive,) = variant.source.archives
    assert archive.repo == "nodemcu/nodemcu-firmware"
    assert archive.commit == "98d3b46e2c11068f361154a564ce75a048c9dadc"
    assert len(archive.tree_sha256) == 64


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("commit = \"98d3b46e2c11068f361154a564ce75a048c9dadc\"", 'commit = "98d3b46"'),
         r"source\.archives\[0\]\.commit: must be a full 40-digit commit id"),
        (('paths = ["app/lwip", "app/include"]', 'paths = ["../etc"]'),
         r"source\.archives\[0\]\.paths\[0\]: must be relative inside the repository"),
        (('family = "espressif-lwip14-espconn"', ""), r"source\.family: missing"),
    ],
)  # fmt: skip
def test_bad_source_tables_are_one_line_errors(tmp_path: Path, edit, message) -> None:
    original = load_variant("nodemcu-2016").manifest_file
    folder = tmp_path / "nodemcu-2016"
    folder.mkdir()
    text = original.read_text()
    assert edit[0] in text
    (folder / "variant.toml").write_text(text.replace(edit[0], edit[1]))
    for extra in original.parent.iterdir():
        if extra.name != "variant.toml" and extra.is_file():
            (folder / extra.name).write_bytes(extra.read_bytes())
    with pytest.raises(UserError, match=message):
        load_variant_file(folder / "variant.toml")


def with_fake_source(isolated: Path) -> tuple:
    """nodemcu-2016 pointed at a small archive of the tests' own (no firmware code)."""
    archive = archive_for(isolated)
    variant = load_variant("nodemcu-2016")
    source = Source(
        family=sorted(families())[0],  # any family with a builder: the archive decides here
        archives=(SourceArchive(archive.repo, archive.commit, archive.paths, archive.tree_sha256),),
        known_differences=("only this one",),
    )
    return dataclasses.replace(variant, source=source), archive


def test_missing_source_falls_back_only_when_allowed(isolated: Path) -> None:
    variant, archive = with_fake_source(isolated)
    (isolated / archive.filename).unlink()
    assert planned_provenance(variant) == "approximation on lwIP 2.1.3 (source unavailable)"
    missing = re.escape(archive.filename)
    with pytest.raises(UserError, match=rf"nodemcu-2016: source archive {missing}"):
        resolve(variant, "exact", log=lambda _m: None)


def test_release_axis_and_manifest_without_source_are_never_exact() -> None:
    variant = load_variant("nodemcu-2016").with_lwip("2.2.1")
    assert planned_provenance(variant).endswith("(release axis: lwIP 2.2.1)")
    with pytest.raises(UserError, match="release axis"):
        resolve(variant, "exact", log=lambda _m: None)
    esp32 = dataclasses.replace(load_variant("micropython-esp32"), source=None)
    assert planned_provenance(esp32, "approximation").endswith("(approximation chosen)")


def test_exact_variant_switches_off_the_benchs_emulations(isolated: Path) -> None:
    variant, _ = with_fake_source(isolated)
    approx_args = variant.device_args()
    assert "active" in approx_args and "5" in approx_args
    exact = variant.as_exact()
    assert exact.device_args() == [
        "--close", "espconn", "--admission", "none", "--tw-cap", "0", "--cull-closing", "0",
        "--heap-bytes", "21064", "--app", "readme",
    ]  # fmt: skip
    assert exact.emulation.known_differences == ("only this one",)
