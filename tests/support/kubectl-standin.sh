#!/usr/bin/env bash
# kubectl-standin.sh: the subset of kubectl (and oc) that collect-k8s calls,
# for tests. Kubernetes cannot run here: only its transport is emulated.
# `exec` runs the command for real, against a live lab node, after mapping
# the container's socket paths to the lab node's sockets. Never emulates OVS.
#
# Configuration: the directory $KUBECTL_STANDIN_DIR holds
#   nodes                  node names, one a line
#   pods.json              {"items":[…]}: every pod of the "cluster"
#   exec/NS/POD/CONTAINER  the container's path mappings, "FROM TO" a line
#                          (a container without this file does not exist)
#   forbidden              when present: an exec is refused (RBAC) in every pod,
#                          or, when it lists pods (one a line), in those
#   cut                    PATTERN on its first line: an exec whose command
#                          line contains PATTERN streams only half its
#                          output, then fails as a broken stream (or, when
#                          the second line is "silent", exits 0 after half
#                          its lines)
#   hang                   PATTERN: an exec whose command line contains it
#                          prints nothing and never ends
#   calls.log              written: one line per call, its arguments
set -uo pipefail

dir=${KUBECTL_STANDIN_DIR:?KUBECTL_STANDIN_DIR is not set}
printf '%s\n' "$*" >>"$dir/calls.log"

# Global flags the tool may pass first.
while [ $# -gt 0 ]; do
    case $1 in
        --kubeconfig | --context) shift 2 ;;
        *) break ;;
    esac
done

fail() {
    echo "$*" >&2
    exit 1
}

get_node() {
    local node=$1
    grep -qxF -- "$node" "$dir/nodes" || fail "Error from server (NotFound): nodes \"$node\" not found"
    jq -n --arg name "$node" '{apiVersion: "v1", kind: "Node", metadata: {name: $name, labels: {"kubernetes.io/hostname": $name}}}'
}

get_pods() {
    local namespace="" node=""
    while [ $# -gt 0 ]; do
        case $1 in
            -A | --all-namespaces) shift ;;
            -n) namespace=$2; shift 2 ;;
            -o) [ "$2" = json ] || fail "stand-in: only -o json"; shift 2 ;;
            --field-selector)
                case $2 in
                    spec.nodeName=*) node=${2#spec.nodeName=} ;;
                    *) fail "stand-in: unsupported field selector $2" ;;
                esac
                shift 2
                ;;
            *) fail "stand-in: unsupported get pods argument $1" ;;
        esac
    done
    jq --arg ns "$namespace" --arg node "$node" \
        '{apiVersion: "v1", kind: "List", items: [.items[]
            | select($ns == "" or .metadata.namespace == $ns)
            | select($node == "" or .spec.nodeName == $node)]}' "$dir/pods.json"
}

do_exec() {
    local namespace="" pod="" container=""
    while [ $# -gt 0 ]; do
        case $1 in
            -n) namespace=$2; shift 2 ;;
            -c) container=$2; shift 2 ;;
            --) shift; break ;;
            -*) fail "stand-in: unsupported exec flag $1" ;;
            *) pod=$1; shift ;;
        esac
    done
    [ -n "$namespace" ] && [ -n "$pod" ] && [ -n "$container" ] || fail "stand-in: exec needs -n, a pod and -c"
    if [ -e "$dir/forbidden" ] && { [ ! -s "$dir/forbidden" ] || grep -qxF -- "$pod" "$dir/forbidden"; }; then
        fail "Error from server (Forbidden): pods \"$pod\" is forbidden: User \"system:serviceaccount:support:reader\" cannot create resource \"pods/exec\" in API group \"\" in the namespace \"$namespace\""
    fi
    jq -e --arg ns "$namespace" --arg pod "$pod" \
        'any(.items[]; .metadata.namespace == $ns and .metadata.name == $pod)' "$dir/pods.json" >/dev/null ||
        fail "Error from server (NotFound): pods \"$pod\" not found"
    local map=$dir/exec/$namespace/$pod/$container
    [ -f "$map" ] || fail "error: unable to upgrade connection: container not found (\"$container\")"
    local original="$*" argv=() arg from to
    for arg in "$@"; do
        while read -r from to; do
            [ -n "$from" ] && arg=${arg//"$from"/"$to"}
        done <"$map"
        argv+=("$arg")
    done
    local pattern="" mode=""
    if [ -f "$dir/cut" ]; then
        pattern=$(sed -n 1p "$dir/cut")
        mode=$(sed -n 2p "$dir/cut")
    fi
    if [ -f "$dir/hang" ] && [[ "$original" == *"$(cat "$dir/hang")"* ]]; then
        exec sleep 600
    fi
    if [ -n "$pattern" ] && [[ "$original" == *"$pattern"* ]]; then
        local out half
        out=$(mktemp)
        "${argv[@]}" >"$out"
        half=$(($(wc -c <"$out") / 2))
        if [ "$mode" = silent ]; then
            head -n "$(($(wc -l <"$out") / 2))" "$out"
            rm -f "$out"
            exit 0
        fi
        head -c "$half" "$out"
        rm -f "$out"
        fail "E1202 12:00:00.000000 websocket.go:297] Unhandled Error: next reader: read tcp 10.0.0.1:41000->10.0.0.2:6443: read: connection reset by peer"
    fi
    exec "${argv[@]}"
}

case ${1:-} in
    get)
        case ${2:-} in
            node | nodes) [ "${4:-}" = "-o" ] && [ "${5:-}" = json ] || fail "stand-in: get node NAME -o json only"; get_node "$3" ;;
            pod | pods) shift 2; get_pods "$@" ;;
            *) fail "stand-in: unsupported get ${2:-}" ;;
        esac
        ;;
    exec) shift; do_exec "$@" ;;
    *) fail "stand-in: unsupported command ${1:-}" ;;
esac
