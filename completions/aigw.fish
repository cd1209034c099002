# fish completion for aigw. Keep in sync with cli/*.cpp (tests/unit/cli/test_completions.cpp
# checks every subcommand and long option appears here).

set -l aigw_commands run chat models cost daemon keys cache
set -l aigw_providers openai anthropic gemini groq together fireworks deepseek mistral xai openrouter cerebras moonshot perplexity

complete -c aigw -f
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -l data-dir -r -a '(__fish_complete_directories)' -d 'Data dir of the daemon'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -l no-spawn -d 'Do not start aigwd when it is not running'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -s V -l version -d 'Print the CLI and daemon versions'

complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a run -d 'Send one prompt and print the answer'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a chat -d 'Interactive chat'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a models -d 'List models with prices and key status'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a cost -d 'Spend, requests and tokens'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a daemon -d 'Start, stop and inspect aigwd'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a keys -d 'Manage provider API keys'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a cache -d 'Show or clear the response cache'

# run
complete -c aigw -n "__fish_seen_subcommand_from run" -s m -l model -r -d 'Model'
complete -c aigw -n "__fish_seen_subcommand_from run" -s s -l system -r -d 'System prompt'
complete -c aigw -n "__fish_seen_subcommand_from run" -l no-stream -d 'Wait for the whole answer'
complete -c aigw -n "__fish_seen_subcommand_from run" -l json -d 'Print the response JSON'
complete -c aigw -n "__fish_seen_subcommand_from run" -l temperature -r -d 'Sampling temperature'
complete -c aigw -n "__fish_seen_subcommand_from run" -l max-tokens -r -d 'Maximum tokens in the answer'

# chat
complete -c aigw -n "__fish_seen_subcommand_from chat" -s m -l model -r -d 'Model'
complete -c aigw -n "__fish_seen_subcommand_from chat" -s s -l system -r -d 'System prompt'

# models
complete -c aigw -n "__fish_seen_subcommand_from models" -l json -d 'Print JSON'
complete -c aigw -n "__fish_seen_subcommand_from models" -l all -d 'Include every model'

# cost
complete -c aigw -n "__fish_seen_subcommand_from cost" -l since -r -a 'today yesterday 7d 30d' -d 'Start'
complete -c aigw -n "__fish_seen_subcommand_from cost" -l until -r -a 'today yesterday' -d 'End'
complete -c aigw -n "__fish_seen_subcommand_from cost" -l by -r -a 'model provider key day variant tag surface' -d 'Group by'
complete -c aigw -n "__fish_seen_subcommand_from cost" -l json -d 'Print the report JSON'
complete -c aigw -n "__fish_seen_subcommand_from cost" -l csv -d 'Print CSV'

# daemon
set -l aigw_daemon_cmds start stop status logs
complete -c aigw -n "__fish_seen_subcommand_from daemon; and not __fish_seen_subcommand_from $aigw_daemon_cmds" -a start -d 'Start aigwd in the background'
complete -c aigw -n "__fish_seen_subcommand_from daemon; and not __fish_seen_subcommand_from $aigw_daemon_cmds" -a stop -d 'Stop aigwd'
complete -c aigw -n "__fish_seen_subcommand_from daemon; and not __fish_seen_subcommand_from $aigw_daemon_cmds" -a status -d 'Show pid, port, version, uptime'
complete -c aigw -n "__fish_seen_subcommand_from daemon; and not __fish_seen_subcommand_from $aigw_daemon_cmds" -a logs -d 'Print the end of the daemon log'
complete -c aigw -n "__fish_seen_subcommand_from daemon; and __fish_seen_subcommand_from status" -l json -d 'Print JSON'
complete -c aigw -n "__fish_seen_subcommand_from daemon; and __fish_seen_subcommand_from logs" -s f -l follow -d 'Keep printing new lines'
complete -c aigw -n "__fish_seen_subcommand_from daemon; and __fish_seen_subcommand_from logs" -s n -l lines -r -d 'How many lines'

# keys
set -l aigw_keys_cmds set list unset
complete -c aigw -n "__fish_seen_subcommand_from keys; and not __fish_seen_subcommand_from $aigw_keys_cmds" -a set -d 'Store a provider key'
complete -c aigw -n "__fish_seen_subcommand_from keys; and not __fish_seen_subcommand_from $aigw_keys_cmds" -a list -d 'Show which providers have a key'
complete -c aigw -n "__fish_seen_subcommand_from keys; and not __fish_seen_subcommand_from $aigw_keys_cmds" -a unset -d 'Remove a stored provider key'
complete -c aigw -n "__fish_seen_subcommand_from keys; and __fish_seen_subcommand_from set unset" -a "$aigw_providers"
complete -c aigw -n "__fish_seen_subcommand_from keys; and __fish_seen_subcommand_from list" -l json -d 'Print JSON'

# cache
set -l aigw_cache_cmds stats clear
complete -c aigw -n "__fish_seen_subcommand_from cache; and not __fish_seen_subcommand_from $aigw_cache_cmds" -a stats -d 'Entries, hits, misses, savings'
complete -c aigw -n "__fish_seen_subcommand_from cache; and not __fish_seen_subcommand_from $aigw_cache_cmds" -a clear -d 'Remove every cached answer'
complete -c aigw -n "__fish_seen_subcommand_from cache; and __fish_seen_subcommand_from $aigw_cache_cmds" -l json -d 'Print JSON'
