# bash completion for aigw                                    -*- shell-script -*-
# Keep in sync with cli/*.cpp (tests/unit/cli/test_completions.cpp checks every
# subcommand and long option appears here).

_aigw_providers="openai anthropic gemini groq together fireworks deepseek mistral xai openrouter cerebras moonshot perplexity ollama azure bedrock cohere"

# Providers that take a key: the built-in ones and those defined in the config.
_aigw_key_providers() {
    aigw keys list --names 2>/dev/null || echo "$_aigw_providers"
}

# Model names: from the running daemon, else from the catalog built into aigw.
_aigw_models() {
    aigw models --names 2>/dev/null
}

_aigw() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null 2>&1; then
        _init_completion || return
    else
        COMPREPLY=()
        cur="${COMP_WORDS[COMP_CWORD]}"
        prev="${COMP_WORDS[COMP_CWORD-1]}"
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi

    local global_opts="--data-dir --no-spawn --version -V --help -h"
    local commands="run chat models cost logs bench eval daemon keys status cache ledger config completions claude codex gemini opencode help"

    # Find the subcommand (and the sub-subcommand for daemon/keys).
    local cmd="" sub="" i
    for ((i = 1; i < cword; i++)); do
        case "${words[i]}" in
            --data-dir) ((i++)) ;;
            -*) ;;
            *)
                if [[ -z $cmd ]]; then
                    cmd="${words[i]}"
                elif [[ -z $sub && ( $cmd == daemon || $cmd == keys || $cmd == logs || $cmd == cache || $cmd == ledger || $cmd == config ) ]]; then
                    sub="${words[i]}"
                fi
                ;;
        esac
    done

    case "$prev" in
        --data-dir)
            COMPREPLY=($(compgen -d -- "$cur"))
            return ;;
        -m|--model|--judge|--embedding-model)
            COMPREPLY=($(compgen -W "$(_aigw_models)" -- "$cur"))
            return ;;
        -s|--system|--temperature|--max-tokens|-n|--lines|--name|--rpm|--tpm|--models|--repeat|-c|--concurrency|-j|-p|--prompt|--tag|--session|--cid|--min-pass)
            return ;;
        --budget)
            COMPREPLY=($(compgen -W "5/day 50/month" -- "$cur"))
            return ;;
        --expires)
            COMPREPLY=($(compgen -W "30d 90d" -- "$cur"))
            return ;;
        -f|--file)
            [[ $cmd == bench ]] && COMPREPLY=($(compgen -f -- "$cur"))
            return ;;
        -t|--template|--save-template)
            return ;;
        --since|--until)
            COMPREPLY=($(compgen -W "today yesterday 7d 30d" -- "$cur"))
            return ;;
        --by)
            COMPREPLY=($(compgen -W "model provider key day variant tag surface session" -- "$cur"))
            return ;;
    esac

    local opts=""
    case "$cmd" in
        "")
            opts="$global_opts $commands" ;;
        run)
            opts="--model -m --system -s --no-stream --json --temperature --max-tokens --continue -c --cid --template -t --save-template --no-save --help" ;;
        bench)
            opts="--prompt -p --file -f --repeat -n --concurrency -c --system -s --max-tokens --temperature --tag --no-stream --show-outputs --json --csv --fail-on-errors --help" ;;
        eval)
            opts="--model -m --concurrency -c --skip-unsupported --judge --embedding-model --pick-cheapest --min-pass --tag --show-outputs --json --csv --help"
            COMPREPLY=($(compgen -W "$opts" -- "$cur") $(compgen -f -X '!*.@(yaml|yml)' -- "$cur"))
            return ;;
        logs)
            case "$sub" in
                show) opts="--json --help" ;;
                *) opts="show --lines -n --limit --follow -f --query -q --model --key --status --since --json --csv --all-attempts --tag --session --help" ;;
            esac ;;
        chat)
            opts="--model -m --system -s --help" ;;
        claude|codex|gemini|opencode)
            # After --, the words are the agent's own.
            for ((i = 1; i < cword; i++)); do
                [[ ${words[i]} == -- ]] && return
            done
            opts="--model -m -- --help" ;;
        models)
            opts="--json --csv --all --names --help" ;;
        cost)
            opts="--since --until --by --json --csv --help" ;;
        status)
            opts="--json --help" ;;
        daemon)
            case "$sub" in
                "") opts="start stop restart reload status logs --help" ;;
                status|reload) opts="--json --help" ;;
                logs) opts="--follow -f --lines -n --json --help" ;;
                *) opts="--help" ;;
            esac ;;
        keys)
            case "$sub" in
                "") opts="set list unset create show revoke --help" ;;
                set|unset) opts="$(_aigw_key_providers) --help" ;;
                list) opts="--json --csv --names --help" ;;
                show|revoke) opts="--json --help" ;;
                create) opts="--name --rpm --tpm --budget --models --expires --json --help" ;;
            esac ;;
        config)
            case "$sub" in
                "") opts="path show check edit --help" ;;
                show) opts="--json --csv --help" ;;
                check) opts="--json --help" ;;
                *) opts="--help" ;;
            esac ;;
        completions)
            opts="bash zsh fish --help" ;;
        help)
            opts="$commands" ;;
        cache)
            case "$sub" in
                "") opts="stats clear --help" ;;
                *) opts="--json --help" ;;
            esac ;;
        ledger)
            case "$sub" in
                "") opts="stats prune vacuum export --help" ;;
                stats) opts="--json --help" ;;
                prune) opts="--older-than --json --help" ;;
                export) opts="--format --since --until --help" ;;
                *) opts="--json --help" ;;
            esac ;;
    esac
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -F _aigw aigw
