#!/bin/bash
# Loads the bash completion and checks COMPREPLY for typed command lines.
#   test_completion.sh BUILD/zmqscope
set -u
ZS=$(realpath "$1")
ROOT=$(dirname "$(dirname "$(dirname "$(realpath "$0")")")")
. "$ROOT/deploy/bash-completion/zmqscope"

# A runtime dir with two live instances (this shell and its parent) and a dead one.
RT=$(mktemp -d)
trap 'rm -rf "$RT"' EXIT
echo "$$ 127.0.0.1:9850" > "$RT/3.pid"
echo "$PPID 127.0.0.1:9851" > "$RT/7.pid"
echo "2147483646 127.0.0.1:9852" > "$RT/9.pid"
export ZMQSCOPE_RUNTIME_DIR=$RT

fails=0 n=0
# expect "LINE" "EXPECTED WORDS..." : COMPREPLY for LINE (completing its last word), sorted.
expect()
{
    local line=$1 want=$2 got
    read -ra COMP_WORDS <<< "$line"
    COMP_WORDS[0]=$ZS
    [[ $line == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE=$line
    COMP_POINT=${#line}
    _zmqscope
    got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | xargs)
    want=$(printf '%s\n' $want | sort | xargs)
    n=$((n + 1))
    if [[ $got != "$want" ]]; then
        echo "FAIL '$line': got '$got', expected '$want'"
        fails=$((fails + 1))
    fi
}

expect "zmqscope st" "start status stop"
expect "zmqscope t" "top"
expect "zmqscope stop " "3 7 --all --purge --help --usage"
expect "zmqscope top 3 --int" "--interval"
expect "zmqscope status --" "--json --help --usage"
expect "zmqscope run --max-s" "--max-sockets"
expect "zmqscope run --no-u" "--no-uprobe-sessions"
# A prefix shared by several options offers all of them, as --help lists them.
expect "zmqscope start --no-" "$("$ZS" start --help | grep -oE -- '--no-[a-z-]+' | sort -u | xargs)"
expect "zmqscope run --role RO" "ROUTER=reply ROUTER=none"
expect "zmqscope start --user roo" "root"
expect "zmqscope run --pid $$" "$(ls /proc | grep -E "^$$[0-9]*$" | xargs)"
expect "zmqscope run --listen 0" "0.0.0.0:9850"
# Every long option of run's --help, and nothing else, for "--".
expect "zmqscope run --" "$("$ZS" run --help | grep -oE '^ +(-[A-Za-z], )?--[a-z-]+' | grep -oE -- '--[a-z-]+' | xargs)"

echo "bash completion: $n cases, $fails failed"
[[ $fails -eq 0 ]]
