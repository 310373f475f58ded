#!/usr/bin/env bash
# sosreport-lab.sh DIR OUT [OVN_DB_DIR]: a lab node (lab-node.sh) seen at the packaged
# default paths, and the real `sos report` run against it, leaving the
# report's archive in OUT.  Root only; run it in a private mount and UTS
# namespace so the host is untouched:
#
#   unshare --mount --uts --propagation private bash sosreport-lab.sh DIR OUT
#
# OVN_DB_DIR is where the node's NB/SB files are seen: /var/lib/ovn (Debian's
# packages, the default) or /var/lib/openvswitch (older packages, RHEL).
#
# The daemons run from DIR as usual (the test reads them through DIR after
# this script exits; they keep running until `lab-node.sh stop DIR`).  In
# this namespace, tmpfs mounts hide the host's /run, /etc/openvswitch,
# /var/lib/openvswitch, /var/lib/ovn and OVS/OVN log directories, and bind
# mounts show the node where Debian's packages put it:
#   /run/openvswitch              = DIR/ovs (db.sock, <br>.mgmt, pid and ctl files)
#   /run/ovn                      = DIR/ovn (+ ovn{nb,sb}_db.{sock,ctl,pid} links to DIR/nb, DIR/sb)
#   /etc/openvswitch/conf.db      = DIR/ovs/conf.db
#   OVN_DB_DIR/ovn{nb,sb}_db.db   = DIR/nb/ovnnb_db.db, DIR/sb/ovnsb_db.db
#   /var/log/{openvswitch,ovn}    = DIR/log
# The tmpfs mounts come first: nothing is ever created on the host's paths.
set -euo pipefail

die() {
    echo "sosreport-lab: $*" >&2
    exit 1
}

[ $# -eq 2 ] || [ $# -eq 3 ] || die "usage: $0 DIR OUT [OVN_DB_DIR]"
[ "$(id -u)" = 0 ] || die "must run as root (in a private mount namespace)"
D=${1%/}
OUT=$2
OVN_DB_DIR=${3:-/var/lib/ovn}
case $OVN_DB_DIR in
    /var/lib/ovn | /var/lib/openvswitch) ;;
    *) die "OVN_DB_DIR must be /var/lib/ovn or /var/lib/openvswitch" ;;
esac
HERE=$(cd "$(dirname "$0")" && pwd)
# A private mount namespace has its own mount table: a mount here that the
# host sees as well means we are not in one.
[ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ] || die "not in a private mount namespace"

hostname lab-node
bash "$HERE/lab-node.sh" start "$D" >/dev/null

for dir in /run /etc/openvswitch /var/lib/openvswitch /var/lib/ovn /var/log/openvswitch /var/log/ovn; do
    mount -t tmpfs -o mode=0755 tmpfs "$dir"
done
mkdir /run/openvswitch /run/ovn
mount --bind "$D/ovs" /run/openvswitch
mount --bind "$D/ovn" /run/ovn
for db in nb sb; do
    ln -sfn "$D/$db/db.sock" "/run/ovn/ovn${db}_db.sock"
    ln -sfn "$D/$db/ovsdb-server.ctl" "/run/ovn/ovn${db}_db.ctl"
    ln -sfn "$D/$db/ovsdb-server.pid" "/run/ovn/ovn${db}_db.pid"
    touch "$OVN_DB_DIR/ovn${db}_db.db"
    mount --bind "$D/$db/ovn${db}_db.db" "$OVN_DB_DIR/ovn${db}_db.db"
done
touch /etc/openvswitch/conf.db
mount --bind "$D/ovs/conf.db" /etc/openvswitch/conf.db
mount --bind "$D/log" /var/log/openvswitch
mount --bind "$D/log" /var/log/ovn

# What sos's commands reach with their defaults must be the lab node.
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin ovs-vsctl -t 5 br-exists br-int || die "ovs-vsctl does not reach the lab node"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin ovn-nbctl --timeout=5 ls-list >/dev/null || die "ovn-nbctl does not reach the lab node"

mkdir -p "$OUT"
# A clean environment: sos's plugins read OVS_RUNDIR, OVS_DBDIR, ….
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 HOME=/root \
    sos report --batch -o openvswitch,ovn_central,ovn_host --tmp-dir "$OUT"
