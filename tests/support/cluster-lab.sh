#!/usr/bin/env bash
# cluster-lab.sh: build and tear down live multi-node OVN deployments inside
# one directory, for the cross-node tests of ovs-offline (issue #19): several
# chassis, each with its own ovsdb-server (conf.db), ovs-vswitchd (dummy
# datapath) and ovn-controller in its own run directory, as OVN's own test
# suite builds multi-hypervisor setups (tests/ovn.at: ovn_start, sim_add,
# ovn_attach).  Unix sockets only, no fixed paths: several labs run side by
# side, as root or as an ordinary user.  Shares lab-node.sh's helpers
# (lab-lib.sh).
#
#   cluster-lab.sh start DIR [--chassis N]   one NB/SB + ovn-northd, N chassis (2 to 64, default 3)
#   cluster-lab.sh start-ic DIR              OVN interconnect: zones az1 and az2
#   cluster-lab.sh stop DIR                  stop every daemon, keep the files
#
# Layout of DIR after `start`:
#   central/{nb,sb}/{ovn*_db.db,db.sock,ovsdb-server.{pid,ctl}}
#   central/ovn/ovn-northd.{pid,ctl}  central/log/
#   node-K/ovs/{conf.db,db.sock,ovsdb-server.{pid,ctl},ovs-vswitchd.*,br-int.mgmt}   (OVS_RUNDIR)
#   node-K/ovn/ovn-controller.{pid,<pid>.ctl}                                        (OVN_RUNDIR)
#   node-K/log/  node-K/etc/  node-K/env (lab-node.sh's variables + LAB_CHASSIS, LAB_ENCAP_IP)
#   lab.env (LAB_CHASSIS_LIST, LAB_ZONES)  pods (one line per pod: name chassis ofport mac ip switch)
# After `start-ic`: ic/{icnb,icsb}/… and ic/log/, and per zone az1/, az2/ laid out
# as DIR is above (az1/central, az1/az1-node-1, …), its ovn-ic's files in
# azN/central/ovn/ovn-ic.{pid,ctl}; each chassis env adds LAB_ZONE and LAB_IC_{NB,SB}_DB.
#
# Topology of `start` (pods are VIFs with iface-id, ofport_request = pod number):
#   ls1 10.0.1.0/24: pod1 @ node-1, pod2 @ node-2, pod5 @ node-3
#   ls2 10.0.2.0/24: pod3 @ node-2, pod4 @ node-3
#   (with 2 chassis, node-3's pods are on node-2; node-4… have no pods)
#   lr1: lr1-ls1 00:00:00:00:ff:01 10.0.1.1/24, lr1-ls2 00:00:00:00:ff:02 10.0.2.1/24
#   load balancers on ls1: lb1 10.0.0.10:80 tcp -> pod3 10.0.2.13:8080,
#                          lb2 10.0.0.11:80 tcp -> pod3, pod4 10.0.2.14 (:8080)
#   pod K: IP 10.0.S.1K on lsS, ofport K (DIR/pods has each pod's MAC and IP)
# Topology of `start-ic` (azK-node-1 is zone azK's transit-switch gateway):
#   az1: ls-az1 10.1.1.0/24 (az1-pod1 @ az1-node-1, az1-pod2 @ az1-node-2),
#        lr-az1 (10.1.1.1, ts1 169.254.100.1); encap IPs 192.168.60.1, .3
#   az2: ls-az2 10.2.1.0/24 (az2-pod1 @ az2-node-1), lr-az2 (10.2.1.1, ts1 169.254.100.2);
#        encap IP 192.168.60.2
#   transit switch ts1 169.254.100.0/24, static routes between the zones.
set -euo pipefail

# shellcheck source=lab-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lab-lib.sh"
readonly LAB_TAG=cluster-lab
readonly WAIT_SECS=${LAB_WAIT_SECS:-30}
readonly VSWITCH_SCHEMA=/usr/share/openvswitch/vswitch.ovsschema
readonly NB_SCHEMA=/usr/share/ovn/ovn-nb.ovsschema
readonly SB_SCHEMA=/usr/share/ovn/ovn-sb.ovsschema
readonly IC_NB_SCHEMA=/usr/share/ovn/ovn-ic-nb.ovsschema
readonly IC_SB_SCHEMA=/usr/share/ovn/ovn-ic-sb.ovsschema

usage() {
    cat <<EOF
usage: $0 start DIR [--chassis N]
       $0 start-ic DIR
       $0 stop DIR
EOF
}

# --- layout -----------------------------------------------------------------

# chassis_dirs: every chassis directory below D (those holding ovs/).
chassis_dirs() {
    local d
    for d in "$D"/*/ovs "$D"/*/*/ovs; do
        [ -d "$d" ] && printf '%s\n' "${d%/ovs}"
    done
    return 0
}

# central_dirs: every zone's central directory below D.
central_dirs() {
    local d
    for d in "$D"/central "$D"/*/central; do
        [ -d "$d" ] && printf '%s\n' "$d"
    done
    return 0
}

# Every daemon of the lab in stop order: chassis, ovn-ic, northd, SB, NB,
# then the interconnect databases.
daemon_table() {
    local c z
    while read -r c; do
        cat <<EOF
ovn-controller|$c/ovn/ovn-controller.pid||$c/log/ovn-controller.log|--restart
ovs-vswitchd|$c/ovs/ovs-vswitchd.pid||$c/log/ovs-vswitchd.log|
ovsdb-server|$c/ovs/ovsdb-server.pid|$c/ovs/ovsdb-server.ctl|$c/log/ovsdb-server-ovs.log|
EOF
    done < <(chassis_dirs)
    while read -r z; do
        cat <<EOF
ovn-ic|$z/ovn/ovn-ic.pid|$z/ovn/ovn-ic.ctl|$z/log/ovn-ic.log|
ovn-northd|$z/ovn/ovn-northd.pid|$z/ovn/ovn-northd.ctl|$z/log/ovn-northd.log|
ovsdb-server|$z/sb/ovsdb-server.pid|$z/sb/ovsdb-server.ctl|$z/log/ovsdb-server-sb.log|
ovsdb-server|$z/nb/ovsdb-server.pid|$z/nb/ovsdb-server.ctl|$z/log/ovsdb-server-nb.log|
EOF
    done < <(central_dirs)
    cat <<EOF
ovsdb-server|$D/ic/icsb/ovsdb-server.pid|$D/ic/icsb/ovsdb-server.ctl|$D/ic/log/ovsdb-server-icsb.log|
ovsdb-server|$D/ic/icnb/ovsdb-server.pid|$D/ic/icnb/ovsdb-server.ctl|$D/ic/log/ovsdb-server-icnb.log|
EOF
}

setup_env() {
    D=$(lab_dir "$1")
    LOG_DIRS=$D
    export LC_ALL=C
    # Never talk to an nbctl/sbctl daemon or the default sockets of the caller's environment.
    unset OVN_NB_DAEMON OVN_SB_DAEMON OVN_NB_DB OVN_SB_DB || true
}

# fresh_dir: refuses a DIR where a lab still runs, else removes what an
# earlier lab left there (and nothing else).
fresh_dir() {
    local running
    if [ -d "$D" ]; then
        running=$(running_daemons)
        [ -z "$running" ] || die "a lab is already running in $D ($(echo $running)); run 'stop' first"
        rm -rf "$D/central" "$D"/node-* "$D/az1" "$D/az2" "$D/ic" "$D/lab.env" "$D/pods" "$D/pods.tmp"
    fi
    mkdir -p "$D"
}

# --- central: NB, SB, northd ------------------------------------------------

# zone_env Z: NB/SB of the zone whose central directory is Z/central.
zone_env() {
    Z=$1
    ZC=$Z/central
    NB_DB=unix:$ZC/nb/db.sock
    SB_DB=unix:$ZC/sb/db.sock
}

nbctl() { ovn-nbctl --db="$NB_DB" --timeout=$WAIT_SECS "$@"; }
sbctl() { ovn-sbctl --db="$SB_DB" --timeout=$WAIT_SECS "$@"; }

# start_central Z: NB and SB ovsdb-servers and ovn-northd in Z/central.
start_central() {
    zone_env "$1"
    mkdir -p "$ZC/nb" "$ZC/sb" "$ZC/ovn" "$ZC/log"
    step "creating and serving the NB and SB databases of $Z" "$ZC/log/ovsdb-server-nb.log" "$ZC/log/ovsdb-server-sb.log"
    ovsdb-tool create "$ZC/nb/ovnnb_db.db" "$NB_SCHEMA"
    ovsdb-tool create "$ZC/sb/ovnsb_db.db" "$SB_SCHEMA"
    start_ovsdb_server "$ZC/nb" "$ZC/nb/ovnnb_db.db" "$ZC/log/ovsdb-server-nb.log"
    start_ovsdb_server "$ZC/sb" "$ZC/sb/ovnsb_db.db" "$ZC/log/ovsdb-server-sb.log"
    nbctl init
    sbctl init
    step "starting ovn-northd of $Z" "$ZC/log/ovn-northd.log"
    (
        export OVN_RUNDIR=$ZC/ovn OVN_LOGDIR=$ZC/log OVN_DBDIR=$ZC/ovn
        start_northd "$ZC/ovn" "$ZC/log" "$NB_DB" "$SB_DB"
    )
}

# --- chassis ----------------------------------------------------------------

# chassis_env Z NAME: paths of chassis NAME of zone Z (Z/NAME).
chassis_env() {
    C=$1/$2
    OVS_DIR=$C/ovs OVN_DIR=$C/ovn LOG_DIR=$C/log ETC_DIR=$C/etc
    OVS_DB=unix:$OVS_DIR/db.sock
}

vsctl() { ovs-vsctl --db="$OVS_DB" --timeout=$WAIT_SECS "$@"; }

# start_chassis Z NAME ENCAP_IP PODS [EXTRA external_ids…]: conf.db with
# br-int and the pods' VIFs (PODS: "pod:ofport …"; iface-id = pod), then
# ovs-vswitchd and ovn-controller attached to Z's SB as chassis NAME. The
# VIFs exist before ovs-vswitchd starts, so they get their ofport_request
# before ovn-controller adds the tunnels.
start_chassis() {
    local z=$1 name=$2 ip=$3 pods=$4 pod
    shift 4
    chassis_env "$z" "$name"
    mkdir -p "$OVS_DIR" "$OVN_DIR" "$LOG_DIR" "$ETC_DIR"
    step "starting the OVS database of $name" "$LOG_DIR/ovsdb-server-ovs.log"
    ovsdb-tool create "$OVS_DIR/conf.db" "$VSWITCH_SCHEMA"
    start_ovsdb_server "$OVS_DIR" "$OVS_DIR/conf.db" "$LOG_DIR/ovsdb-server-ovs.log"
    vsctl --no-wait init
    vsctl --no-wait set Open_vSwitch . \
        "external_ids:system-id=$name" \
        "external_ids:hostname=$name" \
        "external_ids:ovn-remote=$SB_DB" \
        external_ids:ovn-encap-type=geneve \
        "external_ids:ovn-encap-ip=$ip" \
        "$@"
    vsctl --no-wait add-br br-int \
        -- set Bridge br-int fail_mode=secure other_config:disable-in-band=true
    for pod in $pods; do
        vsctl --no-wait add-port br-int "${pod%:*}" \
            -- set Interface "${pod%:*}" "ofport_request=${pod#*:}" "external_ids:iface-id=${pod%:*}"
    done
    step "starting ovs-vswitchd and ovn-controller of $name" "$LOG_DIR/ovs-vswitchd.log" "$LOG_DIR/ovn-controller.log"
    (
        export OVS_RUNDIR=$OVS_DIR OVS_LOGDIR=$LOG_DIR OVS_DBDIR=$OVS_DIR OVS_SYSCONFDIR=$ETC_DIR
        export OVN_RUNDIR=$OVN_DIR OVN_LOGDIR=$LOG_DIR OVN_DBDIR=$OVN_DIR OVN_SYSCONFDIR=$ETC_DIR
        start_vswitchd "$OVS_DIR" "$LOG_DIR" "$OVS_DB"
        start_ovn_controller "$OVN_DIR" "$LOG_DIR" "$OVS_DB"
    )
}

# write_chassis_env Z NAME ENCAP_IP [MORE LINES]: Z/NAME/env, with
# lab-node.sh's variables (tests run the tools against a chassis with them).
write_chassis_env() {
    local z=$1 name=$2 ip=$3 extra=${4:-}
    chassis_env "$z" "$name"
    zone_env "$z"
    write_lab_env "$C" "$ZC/ovn/ovn-northd.ctl" "$OVS_DIR/conf.db" "$ZC/nb/ovnnb_db.db" "$ZC/sb/ovnsb_db.db" br-int \
        "LAB_CHASSIS=\"$name\"
LAB_ENCAP_IP=\"$ip\"${extra:+
$extra}"
}

# --- waiting ----------------------------------------------------------------

# all_bound PORT…: every logical port has a chassis in SB.
all_bound() {
    local p
    for p in "$@"; do
        lport_bound "$p" || return 1
    done
}

# tunnels_up Z NAME COUNT: chassis NAME has COUNT geneve ports with an ofport.
tunnels_up() {
    local ofports n=0 p
    chassis_env "$1" "$2"
    ofports=$(ovs-vsctl --db="$OVS_DB" --timeout=5 --bare --columns=ofport find Interface type=geneve) || return 1
    for p in $ofports; do
        [ "$p" -gt 0 ] 2>/dev/null && n=$((n + 1))
    done
    [ "$n" -eq "$3" ]
}

# wait_chassis Z COUNT NAME…: each chassis's tunnels to the COUNT others exist.
wait_chassis() {
    local z=$1 count=$2 name
    shift 2
    for name in "$@"; do
        step "waiting for the tunnels of $name" "$z/$name/log/ovn-controller.log" "$z/$name/log/ovs-vswitchd.log"
        wait_for "$count geneve tunnel(s) on $name" tunnels_up "$z" "$name" "$count"
    done
}

# --- start: one zone, N chassis ---------------------------------------------

# Pods: name switch mac ip (chassis given at start).
readonly POD_TABLE="pod1 ls1 0a:00:00:00:01:0b 10.0.1.11
pod2 ls1 0a:00:00:00:01:0c 10.0.1.12
pod3 ls2 0a:00:00:00:02:0d 10.0.2.13
pod4 ls2 0a:00:00:00:02:0e 10.0.2.14
pod5 ls1 0a:00:00:00:01:0f 10.0.1.15"

build_cluster_nb() {
    nbctl lr-add lr1
    nbctl lrp-add lr1 lr1-ls1 00:00:00:00:ff:01 10.0.1.1/24
    nbctl lrp-add lr1 lr1-ls2 00:00:00:00:ff:02 10.0.2.1/24
    local ls
    for ls in ls1 ls2; do
        nbctl ls-add "$ls" \
            -- lsp-add "$ls" "$ls-lr1" \
            -- lsp-set-type "$ls-lr1" router \
            -- lsp-set-addresses "$ls-lr1" router \
            -- lsp-set-options "$ls-lr1" "router-port=lr1-$ls"
    done
    local pod sw mac ip
    while read -r pod sw mac ip; do
        nbctl lsp-add "$sw" "$pod" \
            -- lsp-set-addresses "$pod" "$mac $ip" \
            -- lsp-set-port-security "$pod" "$mac $ip"
    done <<<"$POD_TABLE"
    nbctl lb-add lb1 10.0.0.10:80 10.0.2.13:8080 tcp
    nbctl lb-add lb2 10.0.0.11:80 10.0.2.13:8080,10.0.2.14:8080 tcp
    nbctl ls-lb-add ls1 lb1
    nbctl ls-lb-add ls1 lb2
}

# pod_chassis POD N: where a pod runs with N chassis.
pod_chassis() {
    case $1 in
        pod1) echo node-1 ;;
        pod2 | pod3) echo node-2 ;;
        pod4 | pod5) [ "$2" -ge 3 ] && echo node-3 || echo node-2 ;;
    esac
}

cmd_start() {
    local n=3
    [ $# -ge 1 ] || { usage >&2; exit 2; }
    setup_env "$1"
    shift
    case ${1:-} in
        "") ;;
        --chassis) n=${2:-}; shift 2 || { usage >&2; exit 2; } ;;
        *) usage >&2; exit 2 ;;
    esac
    [ $# -eq 0 ] || { usage >&2; exit 2; }
    case $n in
        [2-9] | [1-5][0-9] | 6[0-4]) ;;
        *) die "--chassis must be 2 to 64, not '$n'" ;;
    esac
    fresh_dir
    STARTED=1
    trap on_start_exit EXIT

    start_central "$D"
    step "building the northbound topology" "$ZC/log/ovsdb-server-nb.log"
    build_cluster_nb

    local k names="" pods="" vifs pod sw mac ip chassis ofport
    : >"$D/pods.tmp"
    while read -r pod sw mac ip; do
        chassis=$(pod_chassis "$pod" "$n")
        echo "$pod $chassis ${pod#pod} $mac $ip $sw" >>"$D/pods.tmp"
        pods="$pods $pod"
    done <<<"$POD_TABLE"
    for ((k = 1; k <= n; k++)); do
        vifs=""
        while read -r pod chassis ofport mac ip sw; do
            if [ "$chassis" = "node-$k" ]; then vifs="$vifs $pod:$ofport"; fi
        done <"$D/pods.tmp"
        start_chassis "$D" "node-$k" "192.168.50.$k" "$vifs"
        names="$names node-$k"
    done

    zone_env "$D"
    step "waiting for every pod's binding" "$D/central/log/ovn-northd.log"
    # shellcheck disable=SC2086
    wait_for "Port_Binding.chassis of$pods" all_bound $pods
    # shellcheck disable=SC2086
    wait_chassis "$D" $((n - 1)) $names
    step "waiting for every chassis to catch up with NB" "$D/central/log/ovn-northd.log"
    nbctl --wait=hv sync

    step "writing the env files"
    for ((k = 1; k <= n; k++)); do
        write_chassis_env "$D" "node-$k" "192.168.50.$k"
    done
    mv -f "$D/pods.tmp" "$D/pods"
    printf 'LAB_CHASSIS_LIST="%s"\nLAB_ZONES=""\n' "${names# }" >"$D/lab.env"
    trap - EXIT
    echo "cluster lab running in $D:$names"
}

# --- start-ic: two zones and a transit switch -------------------------------

IC_NB_DB=""
IC_SB_DB=""

start_ic_dbs() {
    local x schema
    mkdir -p "$D/ic/log"
    for x in icnb icsb; do
        case $x in
            icnb) schema=$IC_NB_SCHEMA ;;
            icsb) schema=$IC_SB_SCHEMA ;;
        esac
        step "creating and serving the $x database" "$D/ic/log/ovsdb-server-$x.log"
        mkdir -p "$D/ic/$x"
        ovsdb-tool create "$D/ic/$x/ovn_${x#ic}_ic.db" "$schema"
        start_ovsdb_server "$D/ic/$x" "$D/ic/$x/ovn_${x#ic}_ic.db" "$D/ic/log/ovsdb-server-$x.log"
    done
    IC_NB_DB=unix:$D/ic/icnb/db.sock
    IC_SB_DB=unix:$D/ic/icsb/db.sock
    ovn-ic-nbctl --db="$IC_NB_DB" --timeout=$WAIT_SECS init
    ovn-ic-sbctl --db="$IC_SB_DB" --timeout=$WAIT_SECS init
}

# start_ovn_ic Z: Z's ovn-ic between its NB/SB and the interconnect databases.
start_ovn_ic() {
    zone_env "$1"
    step "starting ovn-ic of $Z" "$ZC/log/ovn-ic.log"
    start_daemon ovn-ic --pidfile="$ZC/ovn/ovn-ic.pid" \
        --log-file="$ZC/log/ovn-ic.log" --unixctl="$ZC/ovn/ovn-ic.ctl" \
        --ovnnb-db="$NB_DB" --ovnsb-db="$SB_DB" \
        --ic-nb-db="$IC_NB_DB" --ic-sb-db="$IC_SB_DB"
}

has_ts1() {
    [ "$(nbctl --bare --columns=name find Logical_Switch name=ts1)" = ts1 ]
}

# Interconnect chassis: zone name encap-ip pods gateway(yes/no); tunnels:
# how many geneve ports it ends with (a gateway also reaches the other
# zone's gateway; a zone's other chassis only its own zone's).
readonly IC_CHASSIS="az1 az1-node-1 192.168.60.1 az1-pod1:1 yes 2
az1 az1-node-2 192.168.60.3 az1-pod2:2 no 1
az2 az2-node-1 192.168.60.2 az2-pod1:1 yes 1"
# Interconnect pods: name chassis ofport mac ip switch
readonly IC_PODS="az1-pod1 az1-node-1 1 0a:00:00:01:01:0b 10.1.1.11 ls-az1
az1-pod2 az1-node-2 2 0a:00:00:01:01:0c 10.1.1.12 ls-az1
az2-pod1 az2-node-1 1 0a:00:00:02:01:0b 10.2.1.11 ls-az2"

# build_zone_nb K: zone azK's switch and pods, its router with a port on ts1
# (gateway chassis azK-node-1) and a static route to the other zone.
build_zone_nb() {
    local k=$1 az=az$1 other=$((3 - $1)) pod chassis ofport mac ip sw
    nbctl ls-add "ls-$az" \
        -- lsp-add "ls-$az" "ls-$az-lr" \
        -- lsp-set-type "ls-$az-lr" router \
        -- lsp-set-addresses "ls-$az-lr" router \
        -- lsp-set-options "ls-$az-lr" "router-port=lr-$az-ls"
    while read -r pod chassis ofport mac ip sw; do
        [ "$sw" = "ls-$az" ] || continue
        nbctl lsp-add "$sw" "$pod" \
            -- lsp-set-addresses "$pod" "$mac $ip" \
            -- lsp-set-port-security "$pod" "$mac $ip"
    done <<<"$IC_PODS"
    nbctl lr-add "lr-$az" \
        -- lrp-add "lr-$az" "lr-$az-ls" "00:00:00:0$k:ff:01" "10.$k.1.1/24" \
        -- lrp-add "lr-$az" "lr-$az-ts1" "aa:aa:aa:aa:aa:0$k" "169.254.100.$k/24"
    nbctl lsp-add ts1 "ts1-$az" \
        -- lsp-set-type "ts1-$az" router \
        -- lsp-set-addresses "ts1-$az" router \
        -- lsp-set-options "ts1-$az" "router-port=lr-$az-ts1"
    nbctl lrp-set-gateway-chassis "lr-$az-ts1" "$az-node-1"
    nbctl lr-route-add "lr-$az" "10.$other.1.0/24" "169.254.100.$other"
}

cmd_start_ic() {
    [ $# -eq 1 ] || { usage >&2; exit 2; }
    setup_env "$1"
    fresh_dir
    STARTED=1
    trap on_start_exit EXIT

    start_ic_dbs
    ovn-ic-nbctl --db="$IC_NB_DB" --timeout=$WAIT_SECS ts-add ts1
    local k az name ip pods gw tunnels names="" extra
    for k in 1 2; do
        start_central "$D/az$k"
        nbctl set NB_Global . "name=az$k"
        start_ovn_ic "$D/az$k"
    done
    while read -r az name ip pods gw tunnels; do
        extra=()
        [ "$gw" = yes ] && extra=(external_ids:ovn-is-interconn=true)
        zone_env "$D/$az"
        start_chassis "$D/$az" "$name" "$ip" "$pods" "${extra[@]}"
        names="$names $name"
    done <<<"$IC_CHASSIS"
    for k in 1 2; do
        zone_env "$D/az$k"
        step "waiting for ovn-ic to create ts1 in az$k" "$ZC/log/ovn-ic.log"
        wait_for "ts1 in az$k's NB" has_ts1
        step "building az$k's northbound topology" "$ZC/log/ovsdb-server-nb.log"
        build_zone_nb "$k"
    done
    local bound
    for k in 1 2; do
        az=az$k
        zone_env "$D/$az"
        bound=$(awk -v sw="ls-$az" '$6 == sw { printf " %s", $1 }' <<<"$IC_PODS")
        step "waiting for $az's bindings (its pods, the remote transit port)" "$ZC/log/ovn-ic.log" "$ZC/log/ovn-northd.log"
        # shellcheck disable=SC2086
        wait_for "$az's bindings" all_bound $bound "cr-lr-$az-ts1" "ts1-az$((3 - k))"
    done
    while read -r az name ip pods gw tunnels; do
        wait_chassis "$D/$az" "$tunnels" "$name"
    done <<<"$IC_CHASSIS"
    for k in 1 2; do
        zone_env "$D/az$k"
        step "waiting for az$k's chassis to catch up with NB" "$ZC/log/ovn-northd.log"
        nbctl --wait=hv sync
    done
    step "writing the env files"
    while read -r az name ip pods gw tunnels; do
        write_chassis_env "$D/$az" "$name" "$ip" "LAB_ZONE=\"$az\"
LAB_IC_NB_DB=\"$IC_NB_DB\"
LAB_IC_SB_DB=\"$IC_SB_DB\""
    done <<<"$IC_CHASSIS"
    printf '%s\n' "$IC_PODS" >"$D/pods"
    printf 'LAB_CHASSIS_LIST="%s"\nLAB_ZONES="az1 az2"\n' "${names# }" >"$D/lab.env"
    trap - EXIT
    echo "interconnect lab running in $D:$names"
}

lab_main "start start-ic stop" -- "$@"
