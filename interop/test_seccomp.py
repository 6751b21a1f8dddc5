"""io_uring forbidden by a seccomp filter, as container runtimes' default profiles do.

seedring runs in a child process whose seccomp filter makes io_uring_setup,
io_uring_enter and io_uring_register fail with EPERM (a sandbox's answer) or ENOSYS
(an old kernel's). `--io auto` must fall back to epoll, say so, and still download
correctly; `--io uring` must refuse with a clear message.
"""

import errno

import libtorrent as lt
import pytest
import seccomp

from conftest import lt_create, make_tree, run_download
from test_download import LAYOUT, LtSeeder, same_files


def forbid_io_uring(code):
    def install():
        f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
        for call in ("io_uring_setup", "io_uring_enter", "io_uring_register"):
            f.add_rule(seccomp.ERRNO(code), call)
        f.load()

    return install


@pytest.mark.parametrize("code", [errno.EPERM, errno.ENOSYS], ids=["EPERM", "ENOSYS"])
def test_auto_falls_back_to_epoll_and_still_downloads(tmp, code):
    src = make_tree(tmp / "src" / "boxed", LAYOUT, seed=8)
    torrent = tmp / "b.torrent"
    torrent.write_bytes(lt_create(src, 64 * 1024, lt.create_torrent.v1_only))
    seeder = LtSeeder(torrent, tmp / "src")
    try:
        proc = run_download(torrent, tmp / "dst", "--io", "auto",
                            "--peer", f"127.0.0.1:{seeder.port}",
                            preexec_fn=forbid_io_uring(code))
    finally:
        seeder.close()
    assert "io: epoll (io_uring unavailable" in proc.stderr, proc.stderr
    same_files(src, tmp / "dst" / "boxed", LAYOUT)


@pytest.mark.parametrize("code", [errno.EPERM, errno.ENOSYS], ids=["EPERM", "ENOSYS"])
def test_forced_uring_refuses_clearly(tmp, code):
    src = make_tree(tmp / "src" / "boxed", {"x.bin": 50_000})
    torrent = tmp / "x.torrent"
    torrent.write_bytes(lt_create(src, 16 * 1024, lt.create_torrent.v1_only))
    proc = run_download(torrent, tmp / "dst", "--io", "uring", timeout=60, check=False,
                        preexec_fn=forbid_io_uring(code))
    assert proc.returncode == 2, proc.stderr
    assert "io_uring is not available here" in proc.stderr, proc.stderr
    assert "--io auto or --io epoll" in proc.stderr


def test_unsandboxed_auto_uses_io_uring(tmp):
    """The control: on this machine io_uring works when nothing forbids it."""
    src = make_tree(tmp / "src" / "free", {"x.bin": 50_000})
    torrent = tmp / "x.torrent"
    torrent.write_bytes(lt_create(src, 16 * 1024, lt.create_torrent.v1_only))
    seeder = LtSeeder(torrent, tmp / "src")
    try:
        proc = run_download(torrent, tmp / "dst", "--peer", f"127.0.0.1:{seeder.port}", timeout=60)
    finally:
        seeder.close()
    assert "io: io_uring" in proc.stderr, proc.stderr
