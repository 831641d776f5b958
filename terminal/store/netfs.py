"""Which filesystem a path is on, to keep SQLite off network filesystems.

SQLite's locking needs POSIX locks that work; on NFS, SMB and FUSE network filesystems they are
missing or unreliable, and a shared SQLite file is corrupted by the second writer (SQLite's own
FAQ). Such a database belongs in MySQL/MariaDB, and shared market data in the Parquet archive.
"""

from __future__ import annotations

import os
from pathlib import Path

NETWORK_FILESYSTEMS = frozenset({"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs",
                                 "lustre", "gpfs", "fuse.sshfs", "fuse.glusterfs", "fuse.cephfs", "fuse.s3fs",
                                 "fuse.gcsfuse", "fuse.rclone", "fuse.juicefs", "davfs", "fuse.davfs2"})


def mount_of(path: Path, mounts: str) -> tuple[str, str]:
    """(mount point, filesystem type) of the mount ``path`` lies on, from /proc/mounts-style text."""
    resolved = os.path.realpath(path)
    best = ("/", "")
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best[0]):
            best = (point, fields[2])
    return best


MOUNTS = Path("/proc/mounts")  # the kernel's mount table (Linux); elsewhere the check finds nothing


def network_filesystem(path: Path) -> str | None:
    """The network filesystem type ``path`` is on (``nfs4``, ``cifs``…), or None (local, or not knowable)."""
    try:
        mounts = MOUNTS.read_text()
    except OSError:
        return None
    probe = path
    while not probe.exists() and probe != probe.parent:  # the file may not exist yet: its folder counts
        probe = probe.parent
    _point, kind = mount_of(probe, mounts)
    return kind if kind in NETWORK_FILESYSTEMS else None
