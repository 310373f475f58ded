#!/usr/bin/env bash
# vxlan-lab.sh: a live plain-OVS overlay as the Neutron OVS agent (ML2/OVS,
# no OVN) builds one, for the cross-node tests of ovs-offline: three nodes,
# each with its own ovsdb-server and ovs-vswitchd (dummy datapath) in its own
# directory, br-int and br-tun joined by patch ports, one vxlan port per peer
# (remote_ip, local_ip, in_key=flow, out_key=flow), and one VM per node on
# network VNI 100 (0x64).  As the agent (its native OpenFlow driver), the
# bridges speak OpenFlow10 and OpenFlow13 and the flows are added with
# OpenFlow 1.3 (mod_vlan_vid becomes push_vlan + set_field, strip_vlan
# pop_vlan, load/set_tunnel set_field:…->tun_id), as ovs-save restores them.
# Shares the other labs' helpers (lab-lib.sh).
#
#   vxlan-lab.sh start DIR [--type gre]   build and start the three nodes
#                                         (gre ports gre-0a0a000P instead)
#   vxlan-lab.sh stop DIR                 stop every daemon, keep the files
#
# Layout of DIR: node-K/ovs/{conf.db,db.sock,ovsdb-server.{pid,ctl},
# ovs-vswitchd.*} (OVS_RUNDIR), node-K/log/, node-K/etc/, node-K/env
# (LAB_* variables as cluster-lab.sh writes them, the OVN ones empty),
# lab.env (LAB_CHASSIS_LIST), pods (one line per VM, as cluster-lab.sh's pods:
# name node ofport mac ip network).
#
# Node K (hostname node-K, tunnel IP 10.10.0.K, the network's local VLAN K):
#   br-int: tap-vmK (ofport 5), patch-tun (ofport 1)
#     table 0: from tap-vmK: mod_vlan_vid:K, output:patch-tun
#              from patch-tun with dl_vlan=K: strip_vlan, output:tap-vmK
#   br-tun: patch-int (ofport 1), vxlan-0a0a000P to node P (ofport 10+P)
#     table 0:  from patch-int → 2; from a vxlan port → 4
#     table 2:  unicast → 20, multicast → 22
#     table 4:  tun_id=0x64: mod_vlan_vid:K → 10
#     table 10: learn the sender's MAC into table 20, output:patch-int
#     table 20: dl_vlan=K to a peer VM's MAC: strip_vlan,
#               load:0x64->NXM_NX_TUN_ID[], output to that peer (l2pop);
#               else → 22
#     table 22: dl_vlan=K: strip_vlan, set_tunnel:0x64, output to every peer
set -euo pipefail

# shellcheck source=lab-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lab-lib.sh"
readonly LAB_TAG=vxlan-lab
readonly WAIT_SECS=${LAB_WAIT_SECS:-30}
readonly VSWITCH_SCHEMA=/usr/share/openvswitch/vswitch.ovsschema
readonly NODES="1 2 3"
readonly VNI=0x64
TYPE=vxlan

usage() {
    echo "usage: $0 start DIR [--type gre] | stop DIR"
}

daemon_table() {
    local k c
    for k in $NODES; do
        c=$D/node-$k
        cat <<EOF
ovs-vswitchd|$c/ovs/ovs-vswitchd.pid||$c/log/ovs-vswitchd.log|
ovsdb-server|$c/ovs/ovsdb-server.pid|$c/ovs/ovsdb-server.ctl|$c/log/ovsdb-server-ovs.log|
EOF
    done
}

setup_env() {
    D=$(lab_dir "$1")
    LOG_DIRS=$D
    export LC_ALL=C
}

vm_mac() { printf 'fa:16:3e:00:00:0%s\n' "$1"; }
vm_ip() { printf '192.168.100.1%s\n' "$1"; }
tunnel_ip() { printf '10.10.0.%s\n' "$1"; }
# vxlan_port P: Neutron's name of the port to node P (TYPE-<hex remote IP>).
vxlan_port() { printf '%s-0a0a000%s\n' "$TYPE" "$1"; }

# node_env K: node K's paths.
node_env() {
    C=$D/node-$1
    OVS_DIR=$C/ovs LOG_DIR=$C/log ETC_DIR=$C/etc
    OVS_DB=unix:$OVS_DIR/db.sock
}

vsctl() { ovs-vsctl --db="$OVS_DB" --timeout=$WAIT_SECS "$@"; }
ofctl() { OVS_RUNDIR=$OVS_DIR ovs-ofctl -O OpenFlow13 "$@"; }

# start_node K: conf.db with the bridges and ports, then ovs-vswitchd.
start_node() {
    local k=$1 p ip
    node_env "$k"
    ip=$(tunnel_ip "$k")
    mkdir -p "$OVS_DIR" "$LOG_DIR" "$ETC_DIR"
    step "starting the OVS database of node-$k" "$LOG_DIR/ovsdb-server-ovs.log"
    ovsdb-tool create "$OVS_DIR/conf.db" "$VSWITCH_SCHEMA"
    start_ovsdb_server "$OVS_DIR" "$OVS_DIR/conf.db" "$LOG_DIR/ovsdb-server-ovs.log"
    vsctl --no-wait init
    vsctl --no-wait set Open_vSwitch . "external_ids:hostname=node-$k"
    vsctl --no-wait add-br br-int -- set Bridge br-int fail_mode=secure protocols=OpenFlow10,OpenFlow13 \
        -- add-br br-tun -- set Bridge br-tun fail_mode=secure protocols=OpenFlow10,OpenFlow13 \
        -- add-port br-int patch-tun -- set Interface patch-tun type=patch options:peer=patch-int ofport_request=1 \
        -- add-port br-tun patch-int -- set Interface patch-int type=patch options:peer=patch-tun ofport_request=1 \
        -- add-port br-int "tap-vm$k" -- set Interface "tap-vm$k" ofport_request=5
    for p in $NODES; do
        [ "$p" = "$k" ] && continue
        vsctl --no-wait add-port br-tun "$(vxlan_port "$p")" -- set Interface "$(vxlan_port "$p")" \
            "type=$TYPE" "ofport_request=$((10 + p))" "options:remote_ip=$(tunnel_ip "$p")" \
            "options:local_ip=$ip" options:in_key=flow options:out_key=flow options:df_default=true
    done
    step "starting ovs-vswitchd of node-$k" "$LOG_DIR/ovs-vswitchd.log"
    (
        export OVS_RUNDIR=$OVS_DIR OVS_LOGDIR=$LOG_DIR OVS_DBDIR=$OVS_DIR OVS_SYSCONFDIR=$ETC_DIR
        start_vswitchd "$OVS_DIR" "$LOG_DIR" "$OVS_DB"
    )
    wait_for "br-tun of node-$k" test -S "$OVS_DIR/br-tun.mgmt"
}

# add_flows K: the agent's flows of node K.
add_flows() {
    local k=$1 p peers="" unicast=""
    node_env "$k"
    step "adding the flows of node-$k" "$LOG_DIR/ovs-vswitchd.log"
    ofctl add-flows br-int - <<EOF
table=0,priority=10,in_port=tap-vm$k actions=mod_vlan_vid:$k,output:patch-tun
table=0,priority=10,in_port=patch-tun,dl_vlan=$k actions=strip_vlan,output:tap-vm$k
table=0,priority=0 actions=drop
EOF
    for p in $NODES; do
        [ "$p" = "$k" ] && continue
        peers="$peers,output:$(vxlan_port "$p")"
        unicast="$unicast
table=0,priority=1,in_port=$(vxlan_port "$p") actions=resubmit(,4)
table=20,priority=2,dl_vlan=$k,dl_dst=$(vm_mac "$p") actions=strip_vlan,load:$VNI->NXM_NX_TUN_ID[],output:$(vxlan_port "$p")"
    done
    ofctl add-flows br-tun - <<EOF
table=0,priority=1,in_port=patch-int actions=resubmit(,2)
table=0,priority=0 actions=drop
table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,20)
table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,22)
table=4,priority=1,tun_id=$VNI actions=mod_vlan_vid:$k,resubmit(,10)
table=4,priority=0 actions=drop
table=10,priority=1 actions=learn(table=20,hard_timeout=300,priority=1,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:patch-int
table=20,priority=0 actions=resubmit(,22)
table=22,priority=1,dl_vlan=$k actions=strip_vlan,set_tunnel:$VNI$peers
table=22,priority=0 actions=drop$unicast
EOF
}

write_env() {
    local k=$1 vpid
    node_env "$k"
    vpid=$(read_pid "$OVS_DIR/ovs-vswitchd.pid")
    cat >"$C/env.tmp" <<EOF
LAB_DIR="$C"
LAB_CHASSIS="node-$k"
LAB_ENCAP_IP="$(tunnel_ip "$k")"
LAB_OVS_DB="$OVS_DB"
LAB_NB_DB=""
LAB_SB_DB=""
LAB_OVS_RUNDIR="$OVS_DIR"
LAB_LOGDIR="$LOG_DIR"
LAB_VSWITCHD_CTL="$OVS_DIR/ovs-vswitchd.$vpid.ctl"
LAB_OVS_DB_FILE="$OVS_DIR/conf.db"
LAB_BRIDGES="br-int br-tun"
EOF
    mv -f "$C/env.tmp" "$C/env"
}

cmd_start() {
    case "$#:${2:-}:${3:-}" in
        1::) ;;
        3:--type:gre | 3:--type:vxlan) TYPE=$3 ;;
        *) usage >&2; exit 2 ;;
    esac
    setup_env "$1"
    local k running names=""
    if [ -d "$D" ]; then
        running=$(running_daemons)
        [ -z "$running" ] || die "a lab is already running in $D ($(echo $running)); run 'stop' first"
        rm -rf "$D"/node-* "$D/lab.env" "$D/pods" "$D/pods.tmp"
    fi
    mkdir -p "$D"
    STARTED=1
    trap on_start_exit EXIT
    : >"$D/pods.tmp"
    for k in $NODES; do
        start_node "$k"
        add_flows "$k"
        write_env "$k"
        echo "vm$k node-$k 5 $(vm_mac "$k") $(vm_ip "$k") net-$VNI" >>"$D/pods.tmp"
        names="$names node-$k"
    done
    mv -f "$D/pods.tmp" "$D/pods"
    printf 'LAB_CHASSIS_LIST="%s"\nLAB_ZONES=""\n' "${names# }" >"$D/lab.env"
    trap - EXIT
    echo "vxlan lab running in $D:$names"
}

cmd_stop() {
    [ $# -eq 1 ] || { usage >&2; exit 2; }
    setup_env "$1"
    [ -d "$D" ] || die "no such directory: $D"
    stop_daemons
}

case ${1:-} in
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
esac
