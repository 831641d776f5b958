#!/usr/bin/env bash
# A real NFS server (nfs-ganesha, VFS FSAL, from Debian) exporting a local folder on 127.0.0.1, for the
# archive's nfs:// tests. Where the kernel cannot mount NFS (as on CI), clients are user-space: the
# archive's NfsBackend (PyPI libnfs, built against libnfs-dev) or nfs-ls/nfs-cp from libnfs-utils.
#   NFS_HOME  work folder (default ${QT_INFRA_HOME:-${TMPDIR:-/tmp}/qt-infra}/nfs); the export is $NFS_HOME/export
#   NFS_PORT  (default 12049)   MNT_PORT (default 12048)
#   NFS_V3=1  (default) serves NFSv3 too, which needs rpcbind on port 111; NFS_V3=0 serves NFSv4 only.
#   libnfs 4.0 loses large NFSv4 writes silently: the archive uses v3.
# Prints GANESHA_PID=, NFS3_URL=nfs://127.0.0.1$NFS_HOME/export once serving; exits 1 with the log otherwise.
# Installs the Debian packages itself if they are missing (needs root).
set -euo pipefail
NFS_HOME=${NFS_HOME:-${QT_INFRA_HOME:-${TMPDIR:-/tmp}/qt-infra}/nfs}
NFS_PORT=${NFS_PORT:-12049}
MNT_PORT=${MNT_PORT:-12048}
NFS_V3=${NFS_V3:-1}

if ! command -v ganesha.nfsd >/dev/null || ! command -v nfs-ls >/dev/null || ! command -v rpcbind >/dev/null; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d   # no service autostart
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nfs-ganesha nfs-ganesha-vfs rpcbind libnfs-utils libnfs-dev >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

mkdir -p "$NFS_HOME/export" "$NFS_HOME/recov"
cd "$NFS_HOME"
if [ "$NFS_V3" = 1 ]; then PROTOS="3, 4"; else PROTOS="4"; fi
cat > ganesha.conf <<EOF
NFS_CORE_PARAM {
    Bind_addr = 127.0.0.1;
    NFS_Port = $NFS_PORT;
    MNT_Port = $MNT_PORT;
    Protocols = $PROTOS;
    Enable_NLM = false;
    Enable_RQUOTA = false;
    Enable_UDP = false;
}
NFSv4 { Graceless = true; RecoveryRoot = $NFS_HOME/recov; }
EXPORT {
    Export_Id = 1;
    Path = $NFS_HOME/export;
    Pseudo = /export;
    Access_Type = RW;
    Squash = No_Root_Squash;
    Protocols = $PROTOS;
    Transports = TCP;
    SecType = sys;
    FSAL { Name = VFS; }     # FSAL MEM does NOT keep file data (reads back 'aaaa'): don't use it
}
LOG { Default_Log_Level = EVENT; }
EOF

rm -f rpcbind.pid
if [ "$NFS_V3" = 1 ] && ! rpcinfo -p 127.0.0.1 >/dev/null 2>&1; then
  nohup rpcbind -f -w > rpcbind.out 2>&1 &
  echo $! > rpcbind.pid
  for _ in $(seq 1 20); do rpcinfo -p 127.0.0.1 >/dev/null 2>&1 && break; sleep 0.1; done
fi
# -F foreground (we background it ourselves to keep the PID); dbus/krb5 CRIT lines in the log are harmless
nohup ganesha.nfsd -F -f "$NFS_HOME/ganesha.conf" -L "$NFS_HOME/ganesha.log" -p "$NFS_HOME/ganesha.pid" -N NIV_EVENT \
  > ganesha.out 2>&1 &
echo $! > ganesha.fg.pid
for _ in $(seq 1 100); do
  if grep -q 'NFS SERVER INITIALIZED' ganesha.log 2>/dev/null \
     && nfs-ls "nfs://127.0.0.1/export?version=4&nfsport=$NFS_PORT" >/dev/null 2>&1; then
    echo "GANESHA_PID=$(cat ganesha.fg.pid)"
    [ -f rpcbind.pid ] && echo "RPCBIND_PID=$(cat rpcbind.pid)"
    [ "$NFS_V3" = 1 ] && echo "NFS3_URL=nfs://127.0.0.1$NFS_HOME/export"
    echo "NFS4_URL=nfs://127.0.0.1/export?version=4&nfsport=$NFS_PORT"
    exit 0
  fi
  kill -0 "$(cat ganesha.fg.pid)" 2>/dev/null || { echo "ganesha died"; tail -30 ganesha.log ganesha.out; exit 1; }
  sleep 0.1
done
echo "ganesha did not start"; tail -30 ganesha.log; exit 1
