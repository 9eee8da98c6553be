# SPDX-License-Identifier: MIT
# bash completion for ascend-fleet: subcommands, each subcommand's options
# (read from its --help, so they stay in step with the binary), stage names
# (from --playbook FILE, else the shipped playbook's), and node and group
# names for --limit/-w/-x from the inventory (-i FILE, else
# ./inventory.yaml) through `ascend-fleet inventory show`.
# Installed as share/bash-completion/completions/ascend-fleet.

_ascend_fleet_arg() {
    # _ascend_fleet_arg OPT DEFAULT...: value of the last OPT on the line.
    local i v=$2
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        "$1") v=${COMP_WORDS[i + 1]} ;;
        "$1"=*) v=${COMP_WORDS[i]#*=} ;;
        esac
    done
    printf '%s' "$v"
}

_ascend_fleet_stages() {
    local pb
    pb=$(_ascend_fleet_arg --playbook "")
    if [ -n "$pb" ] && [ -r "$pb" ]; then
        # Keys indented by two spaces under the top-level "stages:".
        awk '/^[^ #]/ { in_st = ($0 ~ /^stages:/) ; next }
             in_st && /^  [A-Za-z0-9_.-]+:/ { sub(/^  /, ""); sub(/:.*/, "");
                                               print }' "$pb"
    else
        printf '%s\n' prereq driver firmware npu cann torch torch_npu apex \
            hccn all
    fi
}

_ascend_fleet_nodes() {
    # Node names, then group names, of the inventory on the command line.
    local inv bin=${COMP_WORDS[0]}
    inv=$(_ascend_fleet_arg -i "")
    [ -n "$inv" ] || inv=$(_ascend_fleet_arg --inventory ./inventory.yaml)
    "$bin" inventory show -i "$inv" 2>/dev/null |
        awk 'NR > 1 { print $1; n = split($NF, g, ","); for (i = 1; i <= n; i++)
                      if (g[i] != "-") print g[i] }' | sort -u
}

_ascend_fleet() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    local bin=${COMP_WORDS[0]} cmd="" i words head
    COMPREPLY=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        -*) ;;
        *) cmd=${COMP_WORDS[i]}; break ;;
        esac
    done
    if [ -z "$cmd" ]; then
        words="exec copy gather facts rollout resume stage status runs logs hccn"
        words+=" ranktable inventory"
        words+=" --help --version"
        mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
        return
    fi
    case $prev in
    -i | --inventory | --playbook | -o | --output | --state)
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return ;;
    --packages)
        mapfile -t COMPREPLY < <(compgen -d -- "$cur")
        return ;;
    --max-size)
        return ;;
    --rate)
        mapfile -t COMPREPLY < <(compgen -W "10M 50M 100M 200M 500M 1G" \
            -- "$cur")
        return ;;
    --stage)
        # A comma-separated list: complete its last element.
        head=""
        [[ $cur == *,* ]] && head=${cur%,*},
        mapfile -t COMPREPLY < <(compgen -P "$head" \
            -W "$(_ascend_fleet_stages)" -- "${cur##*,}")
        return ;;
    --limit | -w | -x)
        head=""
        [[ $cur == *,* ]] && head=${cur%,*},
        local last=${cur##*,} pre=""
        case $last in
        '!'* | @*) pre=${last:0:1}; last=${last:1} ;;
        esac
        mapfile -t COMPREPLY < <(compgen -P "$head$pre" \
            -W "$(_ascend_fleet_nodes)" -- "$last")
        return ;;
    --host-keys)
        mapfile -t COMPREPLY < <(compgen -W "strict accept-new" -- "$cur")
        return ;;
    esac
    case $cmd in
    hccn)
        if [ "$prev" = hccn ]; then
            mapfile -t COMPREPLY < <(compgen -W "plan apply verify" -- "$cur")
            return
        fi ;;
    inventory)
        if [ "$prev" = inventory ]; then
            mapfile -t COMPREPLY < <(compgen -W "check show" -- "$cur")
            return
        fi ;;
    copy | gather)
        if [[ $cur != -* ]]; then
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return
        fi ;;
    esac
    if [[ $cur == -* ]]; then
        words=$("$bin" "$cmd" --help 2>&1 |
            grep -o -- '\(^\|[ ,[]\)--\?[A-Za-z][A-Za-z-]*' |
            sed 's/^[ ,[]//' | grep '^-' | sort -u)
        mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
    fi
}
complete -F _ascend_fleet ascend-fleet
