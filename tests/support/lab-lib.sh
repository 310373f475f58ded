# lab-lib.sh: what the lab scripts (lab-node.sh, cluster-lab.sh) share and
# what does not depend on a lab's layout: paths, starting and stopping
# daemons by their pidfiles, polling, and the report of a failed start.
# Sourced, never run.  The caller sets LAB_TAG (prefix of its messages) and
# WAIT_SECS, and defines `daemon_table`: one line per daemon, in stop order,
#   name|pidfile|ctl ("" = derive from pid)|log|exit args
# and `usage`, `setup_env DIR` (sets D) and a `cmd_NAME` per command, which
# `lab_main COMMANDS -- ARG…` runs (`stop` is `cmd_stop` here).
# `on_start_exit` shows the tails of the logs named by `step`, or else of
# every *.log below the directories in LOG_DIRS.

die() {
    echo "$LAB_TAG: $*" >&2
    exit 1
}

abspath() {
    case $1 in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s\n' "$PWD/$1" ;;
    esac
}

# lab_dir DIR: DIR as an absolute path without a trailing slash, refused when
# it is / or holds characters the generated env files cannot quote.
lab_dir() {
    local d
    [ -n "$1" ] || die "empty DIR"
    d=$(abspath "$1")
    d=${d%/}
    [ -n "$d" ] || die "refusing to use / as DIR"
    case $d in
        *[\"\$\`\\]* | *$'\n'*) die "DIR must not contain quotes, \$, \` or backslashes: $d" ;;
    esac
    printf '%s\n' "$d"
}

# pid_alive PID PIDFILE: the process exists, is no zombie, and is the daemon
# started with that pidfile (guards against pid reuse).
pid_alive() {
    local pid=$1 pidfile=$2 stat cmdline
    [ -n "$pid" ] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    case ${stat%% *} in Z | X) return 1 ;; esac
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    case $cmdline in *"--pidfile=$pidfile "*) return 0 ;; esac
    return 1
}

# wait_gone PID PIDFILE TENTHS: waits up to TENTHS/10 s for the daemon to go.
wait_gone() {
    local i
    for ((i = 0; i < $3; i++)); do
        pid_alive "$1" "$2" || return 0
        sleep 0.1
    done
}

read_pid() {
    local pid
    [ -r "$1" ] || return 1
    read -r pid <"$1" 2>/dev/null || return 1
    case $pid in '' | *[!0-9]*) return 1 ;; esac
    printf '%s\n' "$pid"
}

# running_daemons: "name pid" of every live daemon of the table.
running_daemons() {
    local name pidfile ctl log args pid
    while IFS='|' read -r name pidfile ctl log args; do
        pid=$(read_pid "$pidfile") || continue
        pid_alive "$pid" "$pidfile" && echo "$name $pid"
    done < <(daemon_table)
    return 0
}

stop_daemons() {
    local name pidfile ctl log args pid
    while IFS='|' read -r name pidfile ctl log args; do
        pid=$(read_pid "$pidfile") || continue
        pid_alive "$pid" "$pidfile" || continue
        [ -n "$ctl" ] || ctl=$(dirname "$pidfile")/$name.$pid.ctl
        # ovn-controller: "exit --restart" keeps its Chassis/Port_Binding
        # records in SB (a plain "exit" would clean them up).
        # shellcheck disable=SC2086
        # (subshell: keeps bash's "Alarm clock" job report off stderr)
        if ! (ovs-appctl --timeout=3 -t "$ctl" exit $args; exit $?) >/dev/null 2>&1; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
        wait_gone "$pid" "$pidfile" 100
        if pid_alive "$pid" "$pidfile"; then
            kill -TERM "$pid" 2>/dev/null || true
            wait_gone "$pid" "$pidfile" 50
        fi
        if pid_alive "$pid" "$pidfile"; then
            echo "$LAB_TAG: $name (pid $pid) ignored exit/SIGTERM, sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" "$pidfile" 50
        fi
        pid_alive "$pid" "$pidfile" && die "$name (pid $pid) is still running"
    done < <(daemon_table)
    return 0
}

# --- commands ---------------------------------------------------------------

cmd_stop() {
    [ $# -eq 1 ] || { usage >&2; exit 2; }
    setup_env "$1"
    [ -d "$D" ] || die "no such directory: $D"
    stop_daemons
}

# lab_main "CMD…" -- ARG…: runs cmd_<ARG 1, dashes as underscores> with the
# other ARGs when ARG 1 is one of the CMDs; usage otherwise.
lab_main() {
    local commands=$1
    shift 2
    [ $# -ge 1 ] || { usage >&2; exit 2; }
    local cmd=$1
    shift
    case $cmd in
        -h | --help | help) usage; return ;;
    esac
    case " $commands " in
        *" $cmd "*) "cmd_${cmd//-/_}" "$@" ;;
        *) usage >&2; exit 2 ;;
    esac
}

# --- start ------------------------------------------------------------------

STEP=""
STEP_LOGS=""
STARTED=0

step() {
    STEP=$1
    shift
    STEP_LOGS="$*"
}

on_start_exit() {
    local rc=$? log shown=0
    trap - EXIT
    if [ $rc -ne 0 ] && [ $STARTED -eq 1 ]; then
        echo "$LAB_TAG: start failed (exit $rc) during: $STEP" >&2
        for log in $STEP_LOGS; do
            [ -s "$log" ] || continue
            echo "---- tail of $log ----" >&2
            tail -n 25 "$log" >&2
            shown=1
        done
        if [ $shown -eq 0 ]; then
            # shellcheck disable=SC2086
            for log in $(find $LOG_DIRS -name '*.log' 2>/dev/null | LC_ALL=C sort); do
                [ -s "$log" ] || continue
                echo "---- tail of $log ----" >&2
                tail -n 5 "$log" >&2
            done
        fi
        echo "$LAB_TAG: stopping what was started" >&2
        stop_daemons || true
    fi
    exit $rc
}

# lport_bound PORT: the logical port has a chassis in SB ($SB_DB).
lport_bound() {
    local out
    out=$(ovn-sbctl --db="$SB_DB" --timeout=5 --bare --columns=chassis find Port_Binding "logical_port=$1") || return 1
    [ -n "$out" ]
}

# write_lab_env DIR NORTHD_CTL OVS_DB_FILE NB_DB_FILE SB_DB_FILE BRIDGES
#   [MORE LINES]: DIR/env, the LAB_* variables tests run a node's tools with
#   (also from OVS_DB, NB_DB, SB_DB, OVS_DIR, OVN_DIR, LOG_DIR), then MORE
#   LINES; written whole or not at all.
write_lab_env() {
    local dir=$1 northd_ctl=$2 ovs_db_file=$3 nb_db_file=$4 sb_db_file=$5 bridges=$6 extra=${7:-} vpid cpid
    vpid=$(read_pid "$OVS_DIR/ovs-vswitchd.pid")
    cpid=$(read_pid "$OVN_DIR/ovn-controller.pid")
    {
        cat <<EOF
LAB_DIR="$dir"
LAB_OVS_DB="$OVS_DB"
LAB_NB_DB="$NB_DB"
LAB_SB_DB="$SB_DB"
LAB_OVS_RUNDIR="$OVS_DIR"
LAB_OVN_RUNDIR="$OVN_DIR"
LAB_LOGDIR="$LOG_DIR"
LAB_VSWITCHD_CTL="$OVS_DIR/ovs-vswitchd.$vpid.ctl"
LAB_CONTROLLER_CTL="$OVN_DIR/ovn-controller.$cpid.ctl"
LAB_NORTHD_CTL="$northd_ctl"
LAB_OVS_DB_FILE="$ovs_db_file"
LAB_NB_DB_FILE="$nb_db_file"
LAB_SB_DB_FILE="$sb_db_file"
LAB_BRIDGES="$bridges"
EOF
        [ -z "$extra" ] || printf '%s\n' "$extra"
    } >"$dir/env.tmp"
    mv -f "$dir/env.tmp" "$dir/env"
}

# wait_for DESCRIPTION FUNCTION [ARGS...]: poll every 0.1 s, at most WAIT_SECS.
wait_for() {
    local desc=$1 deadline=$((SECONDS + WAIT_SECS))
    shift
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            echo "$LAB_TAG: timed out after ${WAIT_SECS} s waiting for $desc" >&2
            return 1
        fi
        sleep 0.1
    done
}

# start_daemon NAME ARGS...: a detached daemon with console logging off.
start_daemon() {
    local name=$1
    shift
    "$name" -vconsole:off -vsyslog:off --detach --no-chdir "$@"
}

# start_ovsdb_server DIR DBFILE LOG: an ovsdb-server for DBFILE, its pidfile,
# control socket and unix socket db.sock in DIR.
start_ovsdb_server() {
    local dir=$1 file=$2 log=$3
    start_daemon ovsdb-server --pidfile="$dir/ovsdb-server.pid" \
        --log-file="$log" --unixctl="$dir/ovsdb-server.ctl" \
        --remote="punix:$dir/db.sock" "$file"
}

# start_vswitchd OVS_DIR LOG_DIR DB: ovs-vswitchd on the dummy datapath (every
# netdev type is replaced by a dummy: a geneve port is a plain port, output to
# it pushes no tunnel header), no system datapath or routes.
start_vswitchd() {
    start_daemon ovs-vswitchd --pidfile="$1/ovs-vswitchd.pid" \
        --log-file="$2/ovs-vswitchd.log" \
        --enable-dummy=override --disable-system --disable-system-route \
        "$3"
}

# start_ovn_controller OVN_DIR LOG_DIR OVS_DB: OVN 23.03's ovn-controller has
# no --unixctl: its control socket is $OVN_RUNDIR/ovn-controller.<pid>.ctl
# (as ovs-vswitchd's in $OVS_RUNDIR), and it reaches br-int through
# $OVS_RUNDIR/br-int.mgmt: both come from the caller's environment.
start_ovn_controller() {
    start_daemon ovn-controller --pidfile="$1/ovn-controller.pid" \
        --log-file="$2/ovn-controller.log" "$3"
}

# start_northd OVN_DIR LOG_DIR NB SB
start_northd() {
    start_daemon ovn-northd --pidfile="$1/ovn-northd.pid" \
        --log-file="$2/ovn-northd.log" --unixctl="$1/ovn-northd.ctl" \
        --ovnnb-db="$3" --ovnsb-db="$4"
}
