"""Parquet archive of ticks, depth and bars on a local disk, an NFS share or HDFS; the recorder that fills it."""

from terminal.archive.archive import Archive, ArchiveFile, FileDamaged, Partition, open_archive
from terminal.archive.backends import ArchiveError
from terminal.archive.schema import KINDS, SCHEMA_VERSION, SCHEMAS, SchemaError

__all__ = ["KINDS", "SCHEMAS", "SCHEMA_VERSION", "Archive", "ArchiveError", "ArchiveFile", "FileDamaged",
           "Partition", "SchemaError", "open_archive"]
