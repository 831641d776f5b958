"""SQLite is refused on a network filesystem (this kernel cannot mount NFS, so the mount table is
given: the check reads /proc/mounts the same way)."""

from __future__ import annotations

import pytest

from terminal.store import Store, StoreError, netfs


def test_sqlite_on_an_nfs_mount_is_refused_with_what_to_do_instead(tmp_path, monkeypatch):
    share = tmp_path / "desk share"
    share.mkdir()
    mounts = tmp_path / "mounts"
    real = netfs.MOUNTS.read_text() if netfs.MOUNTS.exists() else "/dev/root / ext4 rw 0 0\n"
    escaped = str(share).replace(" ", "\\040")
    mounts.write_text(real + f"filer:/vol/desk {escaped} nfs4 rw,relatime,vers=4.2 0 0\n")
    monkeypatch.setattr(netfs, "MOUNTS", mounts)
    with pytest.raises(StoreError, match=r"network filesystem \(nfs4\).*MySQL/MariaDB"):
        Store.open(f"sqlite:///{share / 'sub' / 'terminal.sqlite'}")
    assert netfs.network_filesystem(tmp_path / "local.sqlite") is None
    Store.open(f"sqlite:///{tmp_path / 'local.sqlite'}").close()  # beside the share: fine
