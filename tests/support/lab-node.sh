#!/usr/bin/env bash
# lab-node.sh: build and tear down a live, self-contained "production" OVN node
# (OVS on the dummy datapath + OVN NB/SB/northd/ovn-controller) inside one
# directory, for the ovs-offline integration tests.
#
# Everything lives under DIR: no fixed ports, no system paths, no TCP.  Several
# lab nodes can run side by side, as root or as an ordinary user.
#
#   lab-node.sh start DIR               build and start a node, write DIR/env
#   lab-node.sh stop DIR                stop its daemons, keep the files
#   lab-node.sh save-flows DIR OUT      run the real ovs-save against it
#   lab-node.sh clustered DIR DBFILE OUT
#                                       clustered (RAFT) copy of a standalone DB
#
# Layout of DIR:
#   nb/ovnnb_db.db nb/db.sock nb/ovsdb-server.{pid,ctl}
#   sb/ovnsb_db.db sb/db.sock sb/ovsdb-server.{pid,ctl}
#   ovs/conf.db ovs/db.sock ovs/ovsdb-server.{pid,ctl}        (OVS_RUNDIR)
#   ovs/ovs-vswitchd.pid ovs/ovs-vswitchd.<pid>.ctl ovs/<br>.mgmt
#   ovn/ovn-northd.{pid,ctl} ovn/ovn-controller.pid
#   ovn/ovn-controller.<pid>.ctl                                (OVN_RUNDIR)
#   log/*.log  etc/  env
set -euo pipefail

# shellcheck source=lab-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lab-lib.sh"
readonly LAB_TAG=lab-node
readonly WAIT_SECS=${LAB_WAIT_SECS:-30}
readonly CHASSIS=lab-chassis
readonly BRIDGES="br-ex br-int"
# VIF name -> logical port, ofport_request = N of vifN.
readonly VIFS="vif1:web1 vif2:web2 vif3:db1 vif4:ext1"
readonly OVS_SAVE=${LAB_OVS_SAVE:-/usr/share/openvswitch/scripts/ovs-save}
readonly VSWITCH_SCHEMA=/usr/share/openvswitch/vswitch.ovsschema
readonly NB_SCHEMA=/usr/share/ovn/ovn-nb.ovsschema
readonly SB_SCHEMA=/usr/share/ovn/ovn-sb.ovsschema

usage() {
    cat <<EOF
usage: $0 start DIR
       $0 stop DIR
       $0 save-flows DIR OUT
       $0 clustered DIR DBFILE OUT
EOF
}

# --- environment ------------------------------------------------------------

# setup_env DIR: absolute paths and the per-node environment of every command.
setup_env() {
    D=$(lab_dir "$1")
    NB_DIR=$D/nb SB_DIR=$D/sb OVS_DIR=$D/ovs OVN_DIR=$D/ovn LOG_DIR=$D/log ETC_DIR=$D/etc
    LOG_DIRS=$LOG_DIR
    NB_DB_FILE=$NB_DIR/ovnnb_db.db
    SB_DB_FILE=$SB_DIR/ovnsb_db.db
    OVS_DB_FILE=$OVS_DIR/conf.db
    NB_DB=unix:$NB_DIR/db.sock
    SB_DB=unix:$SB_DIR/db.sock
    OVS_DB=unix:$OVS_DIR/db.sock

    export OVS_RUNDIR=$OVS_DIR OVS_LOGDIR=$LOG_DIR OVS_DBDIR=$OVS_DIR OVS_SYSCONFDIR=$ETC_DIR
    export OVN_RUNDIR=$OVN_DIR OVN_LOGDIR=$LOG_DIR OVN_DBDIR=$OVN_DIR OVN_SYSCONFDIR=$ETC_DIR
    export OVN_NB_DB=$NB_DB OVN_SB_DB=$SB_DB
    # Never talk to an nbctl/sbctl daemon of the caller's environment.
    unset OVN_NB_DAEMON OVN_SB_DAEMON || true
    export LC_ALL=C
}

vsctl() { ovs-vsctl --db="$OVS_DB" --timeout=$WAIT_SECS "$@"; }
nbctl() { ovn-nbctl --db="$NB_DB" --timeout=$WAIT_SECS "$@"; }
sbctl() { ovn-sbctl --db="$SB_DB" --timeout=$WAIT_SECS "$@"; }
# ofctl VERSION BRIDGE-COMMAND BRIDGE ARGS...: always through the bridge's mgmt socket.
ofctl() {
    local ver=$1 cmd=$2 br=$3
    shift 3
    ovs-ofctl -O "$ver" --timeout=$WAIT_SECS "$cmd" "unix:$OVS_DIR/$br.mgmt" "$@"
}

# --- daemons ----------------------------------------------------------------

# Daemons in stop order: name|pidfile|ctl ("" = derive from pid)|log|exit args
daemon_table() {
    cat <<EOF
ovn-controller|$OVN_DIR/ovn-controller.pid||$LOG_DIR/ovn-controller.log|--restart
ovn-northd|$OVN_DIR/ovn-northd.pid|$OVN_DIR/ovn-northd.ctl|$LOG_DIR/ovn-northd.log|
ovs-vswitchd|$OVS_DIR/ovs-vswitchd.pid||$LOG_DIR/ovs-vswitchd.log|
ovsdb-server|$OVS_DIR/ovsdb-server.pid|$OVS_DIR/ovsdb-server.ctl|$LOG_DIR/ovsdb-server-ovs.log|
ovsdb-server|$SB_DIR/ovsdb-server.pid|$SB_DIR/ovsdb-server.ctl|$LOG_DIR/ovsdb-server-sb.log|
ovsdb-server|$NB_DIR/ovsdb-server.pid|$NB_DIR/ovsdb-server.ctl|$LOG_DIR/ovsdb-server-nb.log|
EOF
}

# --- start ------------------------------------------------------------------

have_lflows() {
    local out
    out=$(ovn-sbctl --db="$SB_DB" --timeout=5 lflow-list) || return 1
    [[ $out == *"table="* ]]
}

all_bound() {
    local v
    for v in $VIFS; do
        lport_bound "${v#*:}" || return 1
    done
    lport_bound cr-lr0-ext
}

br_int_has_flows() {
    local out
    out=$(ovs-ofctl -O OpenFlow15 --timeout=5 dump-flows "unix:$OVS_DIR/br-int.mgmt") || return 1
    [ "$(grep -c 'table=' <<<"$out")" -ge 100 ]
}

br_int_has_select_groups() {
    local out
    out=$(ovs-ofctl -O OpenFlow15 --timeout=5 dump-groups "unix:$OVS_DIR/br-int.mgmt") || return 1
    [[ $out == *"type=select"* ]]
}

br_int_has_meters() {
    local out
    out=$(ovs-ofctl -O OpenFlow15 --timeout=5 dump-meters "unix:$OVS_DIR/br-int.mgmt") || return 1
    [[ $out == *"meter="* ]]
}

br_int_has_ovn_tlv() {
    local out
    out=$(ovs-ofctl -O OpenFlow15 --timeout=5 dump-tlv-map "unix:$OVS_DIR/br-int.mgmt") || return 1
    grep -Eq '^ *0x102 +0x80 +4 +tun_metadata' <<<"$out"
}

build_nb_topology() {
    nbctl init
    nbctl meter-add acl-meter drop 10 pktps

    # Router lr0 with one port per switch; lr0-ext is the distributed
    # gateway port, its chassisredirect port lives on this chassis.
    nbctl lr-add lr0
    nbctl lrp-add lr0 lr0-web 00:00:00:00:01:01 10.0.1.1/24
    nbctl lrp-add lr0 lr0-db 00:00:00:00:02:01 10.0.2.1/24
    nbctl lrp-add lr0 lr0-ext 00:00:00:00:03:01 172.16.0.1/24
    nbctl lrp-set-gateway-chassis lr0-ext "$CHASSIS" 20

    local ls sw lp mac ip
    for ls in web db ext; do
        sw=ls-$ls
        nbctl ls-add "$sw"
        nbctl lsp-add "$sw" "$ls-lr0" \
            -- lsp-set-type "$ls-lr0" router \
            -- lsp-set-addresses "$ls-lr0" router \
            -- lsp-set-options "$ls-lr0" "router-port=lr0-$ls"
    done
    while read -r sw lp mac ip; do
        nbctl lsp-add "$sw" "$lp" \
            -- lsp-set-addresses "$lp" "$mac $ip" \
            -- lsp-set-port-security "$lp" "$mac $ip"
    done <<'EOF'
ls-web web1 00:00:00:00:01:0a 10.0.1.10
ls-web web2 00:00:00:00:01:0b 10.0.1.11
ls-db db1 00:00:00:00:02:0a 10.0.2.10
ls-ext ext1 00:00:00:00:03:0a 172.16.0.10
EOF

    # ACLs: ls-web (one logged + metered), ls-db.
    nbctl --name=web-out acl-add ls-web from-lport 1000 'ip4' allow-related
    nbctl --name=web-http acl-add ls-web to-lport 1002 'ip4 && tcp.dst == 80' allow-related
    nbctl --log --meter=acl-meter --severity=warning --name=web-ssh-drop \
        acl-add ls-web to-lport 1001 'ip4 && tcp.dst == 22' drop
    nbctl --name=db-pg acl-add ls-db to-lport 1000 'ip4.src == 10.0.1.0/24 && tcp.dst == 5432' allow-related
    nbctl --name=db-drop acl-add ls-db to-lport 900 'ip4' drop

    # Load balancer on the web switch and the router (select groups).
    nbctl lb-add lb-web 172.16.0.100:80 10.0.1.10:80,10.0.1.11:80 tcp
    nbctl ls-lb-add ls-web lb-web
    nbctl lr-lb-add lr0 lb-web

    # NAT on the gateway router port.
    nbctl lr-nat-add lr0 snat 172.16.0.1 10.0.0.0/16
    nbctl lr-nat-add lr0 dnat_and_snat 172.16.0.110 10.0.2.10
}

setup_br_ex() {
    local f=$OVS_DIR/br-ex.flows.lab
    ofctl OpenFlow15 add-tlv-map br-ex "{class=0xffff,type=0x1,len=4}->tun_metadata0"
    ofctl OpenFlow15 add-group br-ex \
        'group_id=1,type=select,selection_method=hash,fields(ip_src),bucket=bucket_id:0,weight:100,actions=output:1,bucket=bucket_id:1,weight:100,actions=output:2'
    ofctl OpenFlow15 add-meter br-ex 'meter=1,pktps,band=type=drop,rate=100'
    cat >"$f" <<'EOF'
cookie=0xe1,table=0,priority=100,in_port=1,ip,actions=group:1
cookie=0xe2,table=0,priority=90,in_port=2,actions=meter:1,resubmit(,1)
cookie=0xe3,table=0,priority=80,tun_metadata0=0x1234,actions=output:2
cookie=0xe4,table=0,priority=0,actions=drop
cookie=0xe5,table=1,priority=10,ip,nw_dst=192.168.0.0/16,actions=dec_ttl,output:1
cookie=0xe6,table=1,priority=0,actions=drop
EOF
    ofctl OpenFlow15 add-flows br-ex "$f" --bundle
    rm -f "$f"
}

write_env() {
    write_lab_env "$D" "$OVN_DIR/ovn-northd.ctl" "$OVS_DB_FILE" "$NB_DB_FILE" "$SB_DB_FILE" "$BRIDGES"
}

cmd_start() {
    [ $# -eq 1 ] || { usage >&2; exit 2; }
    setup_env "$1"
    local running
    if [ -d "$D" ]; then
        running=$(running_daemons)
        [ -z "$running" ] || die "a lab node is already running in $D ($(echo $running)); run 'stop' first"
    fi

    # Fresh state every time (leftovers of a failed or stopped run go).
    mkdir -p "$D"
    rm -rf "$NB_DIR" "$SB_DIR" "$OVS_DIR" "$OVN_DIR" "$LOG_DIR" "$ETC_DIR" "$D/env"
    mkdir -p "$NB_DIR" "$SB_DIR" "$OVS_DIR" "$OVN_DIR" "$LOG_DIR" "$ETC_DIR"

    STARTED=1
    trap on_start_exit EXIT

    step "creating databases"
    ovsdb-tool create "$NB_DB_FILE" "$NB_SCHEMA"
    ovsdb-tool create "$SB_DB_FILE" "$SB_SCHEMA"
    ovsdb-tool create "$OVS_DB_FILE" "$VSWITCH_SCHEMA"

    local x dir file log
    for x in nb sb ovs; do
        case $x in
            nb) dir=$NB_DIR file=$NB_DB_FILE log=$LOG_DIR/ovsdb-server-nb.log ;;
            sb) dir=$SB_DIR file=$SB_DB_FILE log=$LOG_DIR/ovsdb-server-sb.log ;;
            ovs) dir=$OVS_DIR file=$OVS_DB_FILE log=$LOG_DIR/ovsdb-server-ovs.log ;;
        esac
        step "starting ovsdb-server ($x)" "$log"
        start_ovsdb_server "$dir" "$file" "$log"
    done

    step "configuring the OVS database" "$LOG_DIR/ovsdb-server-ovs.log"
    vsctl --no-wait init
    vsctl --no-wait set Open_vSwitch . \
        "external_ids:system-id=$CHASSIS" \
        external_ids:hostname=lab-node \
        "external_ids:ovn-remote=$SB_DB" \
        external_ids:ovn-encap-type=geneve \
        external_ids:ovn-encap-ip=127.0.0.1
    vsctl --no-wait add-br br-int \
        -- set Bridge br-int fail_mode=secure other_config:disable-in-band=true
    local v n vif lp
    for v in $VIFS; do
        vif=${v%%:*} lp=${v#*:} n=${vif#vif}
        vsctl --no-wait add-port br-int "$vif" \
            -- set Interface "$vif" type=internal "ofport_request=$n" "external_ids:iface-id=$lp"
    done
    vsctl --no-wait add-br br-ex \
        -- set Bridge br-ex protocols=OpenFlow13,OpenFlow15 fail_mode=secure \
        -- add-port br-ex eth-lab0 -- set Interface eth-lab0 ofport_request=1 \
        -- add-port br-ex ex-p2 -- set Interface ex-p2 type=internal ofport_request=2

    step "building the OVN northbound topology" "$LOG_DIR/ovsdb-server-nb.log"
    build_nb_topology
    sbctl init

    step "starting ovs-vswitchd" "$LOG_DIR/ovs-vswitchd.log"
    start_vswitchd "$OVS_DIR" "$LOG_DIR" "$OVS_DB"

    step "starting ovn-northd" "$LOG_DIR/ovn-northd.log"
    start_northd "$OVN_DIR" "$LOG_DIR" "$NB_DB" "$SB_DB"

    step "starting ovn-controller" "$LOG_DIR/ovn-controller.log"
    start_ovn_controller "$OVN_DIR" "$LOG_DIR" "$OVS_DB"

    step "programming br-ex (TLV map, group, meter, flows)" "$LOG_DIR/ovs-vswitchd.log"
    wait_for "br-ex.mgmt" test -S "$OVS_DIR/br-ex.mgmt"
    setup_br_ex

    step "waiting for ovn-northd's logical flows" "$LOG_DIR/ovn-northd.log"
    wait_for "logical flows in SB" have_lflows

    step "waiting for ovn-controller to bind the VIFs" "$LOG_DIR/ovn-controller.log $LOG_DIR/ovs-vswitchd.log"
    wait_for "Port_Binding.chassis of $VIFS cr-lr0-ext" all_bound

    step "waiting for br-int flows, groups, meters" "$LOG_DIR/ovn-controller.log $LOG_DIR/ovs-vswitchd.log"
    nbctl --wait=hv sync
    wait_for "OpenFlow flows on br-int" br_int_has_flows
    wait_for "select groups on br-int" br_int_has_select_groups
    wait_for "meters on br-int" br_int_has_meters
    if ! br_int_has_ovn_tlv; then
        # ovn-controller normally installs it itself.
        echo "lab-node: note: OVN's geneve TLV map missing on br-int, adding it" >&2
        ofctl OpenFlow15 add-tlv-map br-int "{class=0x102,type=0x80,len=4}->tun_metadata0"
    fi
    wait_for "OVN geneve TLV map on br-int" br_int_has_ovn_tlv

    step "writing $D/env"
    write_env
    trap - EXIT
    echo "lab node running in $D (env: $D/env)"
}

# --- other commands ---------------------------------------------------------

cmd_save_flows() {
    [ $# -eq 2 ] || { usage >&2; exit 2; }
    setup_env "$1"
    local out
    out=$(abspath "$2")
    out=${out%/}
    [ -S "$OVS_DIR/db.sock" ] && [ -n "$(running_daemons)" ] || die "lab node in $D is not running"
    mkdir -p "$out"
    # ovs-save uses plain bridge names: ovs-vsctl defaults to
    # unix:$OVS_RUNDIR/db.sock, ovs-ofctl to $OVS_RUNDIR/BR.mgmt, ovs-appctl
    # to $OVS_RUNDIR/ovs-vswitchd.pid.  Its dump dir comes from TMPDIR.
    # shellcheck disable=SC2086
    TMPDIR=$out "$OVS_SAVE" save-flows $BRIDGES >"$out/do_restore.sh"
    # ovs-save exits 0 whatever happens: check it really dumped br-int.
    local dump
    dump=$(find "$out" -path "$out/ovs-save.*/br-int.flows.dump" -print | head -n 1)
    [ -n "$dump" ] && [ -s "$dump" ] || die "ovs-save wrote no br-int flows under $out"
    (cd "$out" && find . | LC_ALL=C sort)
}

cmd_clustered() {
    [ $# -eq 3 ] || { usage >&2; exit 2; }
    setup_env "$1"
    local db=$2 out=$3
    [ -f "$db" ] || die "no such DB file: $db"
    ovsdb-tool db-is-standalone "$db" || die "$db is not a standalone database"
    [ ! -e "$out" ] || die "$out already exists"
    ovsdb-tool create-cluster "$out" "$db" tcp:192.0.2.10:6643
    ovsdb-tool db-is-clustered "$out" || die "$out is not clustered"
}

lab_main "start stop save-flows clustered" -- "$@"
