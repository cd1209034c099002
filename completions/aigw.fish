# fish completion for aigw. Keep in sync with cli/*.cpp (tests/unit/cli/test_completions.cpp
# checks every subcommand and long option appears here).

set -l aigw_commands run chat models cost logs bench eval daemon keys status cache ledger config completions claude codex gemini opencode help
set -l aigw_providers openai anthropic gemini groq together fireworks deepseek mistral xai openrouter cerebras moonshot perplexity ollama azure bedrock cohere

complete -c aigw -f
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -l data-dir -r -a '(__fish_complete_directories)' -d 'Data dir of the daemon'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -l no-spawn -d 'Do not start aigwd when it is not running'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -s V -l version -d 'Print the CLI and daemon versions'

complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a run -d 'Send one prompt and print the answer'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a chat -d 'Interactive chat'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a models -d 'List models with prices and key status'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a cost -d 'Spend, requests and tokens'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a logs -d 'Recent requests from the ledger'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a bench -d 'Compare models on the same prompts'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a eval -d 'Run a promptfoo-compatible eval config'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a daemon -d 'Start, stop and inspect aigwd'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a keys -d 'Manage provider API keys and virtual keys'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a status -d 'Daemon, deployment health and provider key states'
complete -c aigw -n "__fish_seen_subcommand_from status" -l json -d 'Print JSON'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a cache -d 'Show or clear the response cache'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a claude -d 'Run Claude Code through the gateway in a new session'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a codex -d 'Run Codex CLI through the gateway in a new session'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a gemini -d 'Run Gemini CLI through the gateway in a new session'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a opencode -d 'Run opencode through the gateway in a new session'
complete -c aigw -n "__fish_seen_subcommand_from claude codex gemini opencode" -s m -l model -r -a '(aigw models --names 2>/dev/null)' -d 'Model the agent runs on'

# run
complete -c aigw -n "__fish_seen_subcommand_from run" -s m -l model -r -a '(aigw models --names 2>/dev/null)' -d 'Model'
complete -c aigw -n "__fish_seen_subcommand_from run" -s s -l system -r -d 'System prompt'
complete -c aigw -n "__fish_seen_subcommand_from run" -l no-stream -d 'Wait for the whole answer'
complete -c aigw -n "__fish_seen_subcommand_from run" -l json -d 'Print the response JSON'
complete -c aigw -n "__fish_seen_subcommand_from run" -l temperature -r -d 'Sampling temperature'
complete -c aigw -n "__fish_seen_subcommand_from run" -l max-tokens -r -d 'Maximum tokens in the answer'
complete -c aigw -n "__fish_seen_subcommand_from run" -s c -l continue -d 'Continue the last conversation'
complete -c aigw -n "__fish_seen_subcommand_from run" -l cid -r -d 'Continue or start a named conversation'
complete -c aigw -n "__fish_seen_subcommand_from run" -s t -l template -r -d 'Use a saved template'
complete -c aigw -n "__fish_seen_subcommand_from run" -l save-template -r -d 'Save the options as a template'
complete -c aigw -n "__fish_seen_subcommand_from run" -l no-save -d 'Do not store the exchange'

# bench
complete -c aigw -n "__fish_seen_subcommand_from bench" -s p -l prompt -r -d 'A prompt'
complete -c aigw -n "__fish_seen_subcommand_from bench" -s f -l file -r -F -d 'Prompt file (text or JSONL)'
complete -c aigw -n "__fish_seen_subcommand_from bench" -s n -l repeat -r -d 'Calls per prompt and model'
complete -c aigw -n "__fish_seen_subcommand_from bench" -s c -l concurrency -r -d 'Calls in flight'
complete -c aigw -n "__fish_seen_subcommand_from bench" -s s -l system -r -d 'System prompt'
complete -c aigw -n "__fish_seen_subcommand_from bench" -l max-tokens -r -d 'Maximum tokens per answer'
complete -c aigw -n "__fish_seen_subcommand_from bench" -l temperature -r -d 'Sampling temperature'
complete -c aigw -n "__fish_seen_subcommand_from bench" -l tag -r -d 'Ledger tag of the run'
complete -c aigw -n "__fish_seen_subcommand_from bench" -l no-stream -d 'Measure non-streamed calls'
complete -c aigw -n "__fish_seen_subcommand_from bench" -l show-outputs -d 'Print answers side by side'
complete -c aigw -n "__fish_seen_subcommand_from bench" -l fail-on-errors -d 'Exit 1 when any call failed'
complete -c aigw -n "__fish_seen_subcommand_from bench" -l json -d 'Print JSON'
complete -c aigw -n "__fish_seen_subcommand_from bench" -l csv -d 'Print CSV'

# eval
complete -c aigw -n "__fish_seen_subcommand_from eval" -F
complete -c aigw -n "__fish_seen_subcommand_from eval" -s m -l model -r -a '(aigw models --names 2>/dev/null)' -d 'Evaluate these models instead'
complete -c aigw -n "__fish_seen_subcommand_from eval" -s c -l concurrency -r -d 'Cases in flight'
complete -c aigw -n "__fish_seen_subcommand_from eval" -l skip-unsupported -d 'Skip assertion types aigw cannot run'
complete -c aigw -n "__fish_seen_subcommand_from eval" -l judge -r -d 'Model that grades llm-rubric'
complete -c aigw -n "__fish_seen_subcommand_from eval" -l embedding-model -r -d 'Model that embeds for similar'
complete -c aigw -n "__fish_seen_subcommand_from eval" -l pick-cheapest -d 'Name the cheapest model that passes'
complete -c aigw -n "__fish_seen_subcommand_from eval" -l min-pass -r -d 'Pass rate for --pick-cheapest'
complete -c aigw -n "__fish_seen_subcommand_from eval" -l tag -r -d 'Ledger tag of the run'
complete -c aigw -n "__fish_seen_subcommand_from eval" -l show-outputs -d 'Show answers in the matrix'
complete -c aigw -n "__fish_seen_subcommand_from eval" -l json -d 'Print JSON'
complete -c aigw -n "__fish_seen_subcommand_from eval" -l csv -d 'Print CSV'

# logs (not daemon logs)
complete -c aigw -n "__fish_seen_subcommand_from logs; and not __fish_seen_subcommand_from daemon show" -a show -d 'One request in detail'
complete -c aigw -n "__fish_seen_subcommand_from logs; and not __fish_seen_subcommand_from daemon" -s n -l lines -r -d 'How many requests'
complete -c aigw -n "__fish_seen_subcommand_from logs; and not __fish_seen_subcommand_from daemon" -s f -l follow -d 'Keep printing new requests'
complete -c aigw -n "__fish_seen_subcommand_from logs; and not __fish_seen_subcommand_from daemon" -l json -d 'Print JSON'
complete -c aigw -n "__fish_seen_subcommand_from logs; and not __fish_seen_subcommand_from daemon" -l csv -d 'Print CSV'
complete -c aigw -n "__fish_seen_subcommand_from logs; and not __fish_seen_subcommand_from daemon" -l all-attempts -d 'One row per attempt'
complete -c aigw -n "__fish_seen_subcommand_from logs; and not __fish_seen_subcommand_from daemon" -l tag -r -d 'Only this run tag'
complete -c aigw -n "__fish_seen_subcommand_from logs; and not __fish_seen_subcommand_from daemon" -l session -r -d 'Only this agent session'
complete -c aigw -n "__fish_seen_subcommand_from logs; and not __fish_seen_subcommand_from daemon" -s q -l query -r -d 'Search the stored bodies'
complete -c aigw -n "__fish_seen_subcommand_from logs; and not __fish_seen_subcommand_from daemon" -l limit -r -d 'How many requests'
complete -c aigw -n "__fish_seen_subcommand_from logs; and not __fish_seen_subcommand_from daemon" -l model -r -d 'Only this served model'
complete -c aigw -n "__fish_seen_subcommand_from logs; and not __fish_seen_subcommand_from daemon" -l key -r -d 'Only this key id'
complete -c aigw -n "__fish_seen_subcommand_from logs; and not __fish_seen_subcommand_from daemon" -l status -x -a '200 4xx 5xx error' -d 'Only this status, class or error'
complete -c aigw -n "__fish_seen_subcommand_from logs; and not __fish_seen_subcommand_from daemon" -l since -x -a 'today yesterday 1d 7d 30d' -d 'Only requests since'

# chat
complete -c aigw -n "__fish_seen_subcommand_from chat" -s m -l model -r -a '(aigw models --names 2>/dev/null)' -d 'Model'
complete -c aigw -n "__fish_seen_subcommand_from chat" -s s -l system -r -d 'System prompt'

# models
complete -c aigw -n "__fish_seen_subcommand_from models" -l json -d 'Print JSON'
complete -c aigw -n "__fish_seen_subcommand_from models" -l csv -d 'Print CSV'
complete -c aigw -n "__fish_seen_subcommand_from models" -l all -d 'Include every model'

# cost
complete -c aigw -n "__fish_seen_subcommand_from cost" -l since -r -a 'today yesterday 7d 30d' -d 'Start'
complete -c aigw -n "__fish_seen_subcommand_from cost" -l until -r -a 'today yesterday' -d 'End'
complete -c aigw -n "__fish_seen_subcommand_from cost" -l by -r -a 'model provider key day variant tag surface session' -d 'Group by'
complete -c aigw -n "__fish_seen_subcommand_from cost" -l json -d 'Print the report JSON'
complete -c aigw -n "__fish_seen_subcommand_from cost" -l csv -d 'Print CSV'

# daemon
set -l aigw_daemon_cmds start stop restart reload status logs
complete -c aigw -n "__fish_seen_subcommand_from daemon; and not __fish_seen_subcommand_from $aigw_daemon_cmds" -a start -d 'Start aigwd in the background'
complete -c aigw -n "__fish_seen_subcommand_from daemon; and not __fish_seen_subcommand_from $aigw_daemon_cmds" -a stop -d 'Stop aigwd'
complete -c aigw -n "__fish_seen_subcommand_from daemon; and not __fish_seen_subcommand_from $aigw_daemon_cmds" -a restart -d 'Stop aigwd and start it again'
complete -c aigw -n "__fish_seen_subcommand_from daemon; and not __fish_seen_subcommand_from $aigw_daemon_cmds" -a reload -d 'Apply the config file to the running aigwd'
complete -c aigw -n "__fish_seen_subcommand_from daemon; and not __fish_seen_subcommand_from $aigw_daemon_cmds" -a status -d 'Show pid, port, version, uptime'
complete -c aigw -n "__fish_seen_subcommand_from daemon; and not __fish_seen_subcommand_from $aigw_daemon_cmds" -a logs -d 'Print the end of the daemon log'
complete -c aigw -n "__fish_seen_subcommand_from daemon; and __fish_seen_subcommand_from status" -l json -d 'Print JSON'
complete -c aigw -n "__fish_seen_subcommand_from daemon; and __fish_seen_subcommand_from reload" -l json -d 'Print JSON'
complete -c aigw -n "__fish_seen_subcommand_from daemon; and __fish_seen_subcommand_from logs" -s f -l follow -d 'Keep printing new lines'
complete -c aigw -n "__fish_seen_subcommand_from daemon; and __fish_seen_subcommand_from logs" -s n -l lines -r -d 'How many lines'
complete -c aigw -n "__fish_seen_subcommand_from daemon; and __fish_seen_subcommand_from logs" -l json -d 'Print the lines as they are'

# keys
set -l aigw_keys_cmds set list unset create show revoke
complete -c aigw -n "__fish_seen_subcommand_from keys; and not __fish_seen_subcommand_from $aigw_keys_cmds" -a set -d 'Store a provider key'
complete -c aigw -n "__fish_seen_subcommand_from keys; and not __fish_seen_subcommand_from $aigw_keys_cmds" -a list -d 'Show which providers have a key'
complete -c aigw -n "__fish_seen_subcommand_from keys; and not __fish_seen_subcommand_from $aigw_keys_cmds" -a unset -d 'Remove a stored provider key'
complete -c aigw -n "__fish_seen_subcommand_from keys; and __fish_seen_subcommand_from set unset" -a "(aigw keys list --names 2>/dev/null; or string split ' ' -- $aigw_providers)"
complete -c aigw -n "__fish_seen_subcommand_from keys; and not __fish_seen_subcommand_from $aigw_keys_cmds" -a create -d 'Create a virtual key (printed once)'
complete -c aigw -n "__fish_seen_subcommand_from keys; and not __fish_seen_subcommand_from $aigw_keys_cmds" -a show -d 'Show a virtual key and its spend'
complete -c aigw -n "__fish_seen_subcommand_from keys; and not __fish_seen_subcommand_from $aigw_keys_cmds" -a revoke -d 'Revoke a virtual key'
complete -c aigw -n "__fish_seen_subcommand_from keys; and __fish_seen_subcommand_from list show revoke create" -l json -d 'Print JSON'
complete -c aigw -n "__fish_seen_subcommand_from keys; and __fish_seen_subcommand_from list" -l names -d 'Print only the providers that take a key'
complete -c aigw -n "__fish_seen_subcommand_from keys; and __fish_seen_subcommand_from list" -l csv -d 'Print CSV'
complete -c aigw -n "__fish_seen_subcommand_from keys; and __fish_seen_subcommand_from create" -l name -r -d 'Name of the key'
complete -c aigw -n "__fish_seen_subcommand_from keys; and __fish_seen_subcommand_from create" -l rpm -r -d 'Requests per minute'
complete -c aigw -n "__fish_seen_subcommand_from keys; and __fish_seen_subcommand_from create" -l tpm -r -d 'Tokens per minute'
complete -c aigw -n "__fish_seen_subcommand_from keys; and __fish_seen_subcommand_from create" -l budget -r -a '5/day 50/month' -d 'USD/day or USD/month'
complete -c aigw -n "__fish_seen_subcommand_from keys; and __fish_seen_subcommand_from create" -l models -r -d 'Allowed model patterns'
complete -c aigw -n "__fish_seen_subcommand_from keys; and __fish_seen_subcommand_from create" -l expires -r -d 'YYYY-MM-DD, 30d, 12h'

# cache
set -l aigw_cache_cmds stats clear
complete -c aigw -n "__fish_seen_subcommand_from cache; and not __fish_seen_subcommand_from $aigw_cache_cmds" -a stats -d 'Entries, hits, misses, savings'
complete -c aigw -n "__fish_seen_subcommand_from cache; and not __fish_seen_subcommand_from $aigw_cache_cmds" -a clear -d 'Remove every cached answer'
complete -c aigw -n "__fish_seen_subcommand_from cache; and __fish_seen_subcommand_from $aigw_cache_cmds" -l json -d 'Print JSON'

# config
set -l aigw_config_cmds path show check edit
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a config -d 'See, check and edit the config file'
complete -c aigw -n "__fish_seen_subcommand_from config; and not __fish_seen_subcommand_from $aigw_config_cmds" -a path -d 'Where the config file is'
complete -c aigw -n "__fish_seen_subcommand_from config; and not __fish_seen_subcommand_from $aigw_config_cmds" -a show -d 'The effective config and sources'
complete -c aigw -n "__fish_seen_subcommand_from config; and not __fish_seen_subcommand_from $aigw_config_cmds" -a check -d 'Report every problem'
complete -c aigw -n "__fish_seen_subcommand_from config; and not __fish_seen_subcommand_from $aigw_config_cmds" -a edit -d 'Open in $EDITOR, then check'
complete -c aigw -n "__fish_seen_subcommand_from config; and __fish_seen_subcommand_from show check" -l json -d 'Print JSON'
complete -c aigw -n "__fish_seen_subcommand_from config; and __fish_seen_subcommand_from show" -l csv -d 'Print CSV'

# completions, help
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a completions -d 'Print the completion script'
complete -c aigw -n "__fish_seen_subcommand_from completions" -a 'bash zsh fish'
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a help -d 'Show the help of a command'
complete -c aigw -n "__fish_seen_subcommand_from help" -a "$aigw_commands"
complete -c aigw -n "__fish_seen_subcommand_from models" -l names -d 'Print model names only'

# ledger
set -l aigw_ledger_cmds stats prune vacuum export
complete -c aigw -n "not __fish_seen_subcommand_from $aigw_commands" -a ledger -d 'Stats, prune, vacuum or export the ledger'
complete -c aigw -n "__fish_seen_subcommand_from ledger; and not __fish_seen_subcommand_from $aigw_ledger_cmds" -a stats -d 'Rows, span, file size'
complete -c aigw -n "__fish_seen_subcommand_from ledger; and not __fish_seen_subcommand_from $aigw_ledger_cmds" -a prune -d 'Delete old rows'
complete -c aigw -n "__fish_seen_subcommand_from ledger; and not __fish_seen_subcommand_from $aigw_ledger_cmds" -a vacuum -d 'Shrink the file'
complete -c aigw -n "__fish_seen_subcommand_from ledger; and not __fish_seen_subcommand_from $aigw_ledger_cmds" -a export -d 'Rows as JSON lines or CSV'
complete -c aigw -n "__fish_seen_subcommand_from ledger; and __fish_seen_subcommand_from stats prune vacuum" -l json -d 'Print JSON'
complete -c aigw -n "__fish_seen_subcommand_from ledger; and __fish_seen_subcommand_from prune" -l older-than -d 'e.g. 30d'
complete -c aigw -n "__fish_seen_subcommand_from ledger; and __fish_seen_subcommand_from export" -l format -a 'jsonl csv' -d 'Format'
complete -c aigw -n "__fish_seen_subcommand_from ledger; and __fish_seen_subcommand_from export" -l since -d 'e.g. 7d'
complete -c aigw -n "__fish_seen_subcommand_from ledger; and __fish_seen_subcommand_from export" -l until -d 'e.g. 2025-06-30'
