# bash completion for savekeeperctl: commands, options, game names and archive IDs.
# Game names come from the running daemon, else from the [game "NAME"] sections of the config.

_savekeeperctl_json() {
	# The global options already typed (--socket) apply to the queries too.
	local -a opts=()
	local i
	for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
		case ${COMP_WORDS[i]} in
		--socket) opts+=(--socket "${COMP_WORDS[i + 1]}") ;;
		--socket=*) opts+=("${COMP_WORDS[i]}") ;;
		esac
	done
	timeout 2 savekeeperctl "${opts[@]}" --json "$@" 2>/dev/null
}

_savekeeperctl_games() {
	local out conf
	out=$(_savekeeperctl_json status | grep -o '"name":"[A-Za-z0-9._-]*"' | cut -d'"' -f4)
	if [[ -z $out ]]; then
		conf=${XDG_CONFIG_HOME:-$HOME/.config}/savekeeper/savekeeper.ini
		[[ -r $conf ]] &&
			out=$(sed -n 's/^[[:space:]]*\[game[[:space:]]*"\([A-Za-z0-9._-]*\)"[[:space:]]*\].*/\1/p' "$conf")
	fi
	printf '%s\n' "$out"
}

# The app ids of the installed Steam games, from `savekeeperctl discover` (no daemon needed).
_savekeeperctl_steam_apps() {
	timeout 5 savekeeperctl --json discover 2>/dev/null | grep -o '"steam_app":[0-9]*' | cut -d: -f2
}

_savekeeperctl_ids() {
	_savekeeperctl_json list ${1:+"$1"} | grep -o '"id":"[0-9TZ.]*"' | cut -d'"' -f4
}

_savekeeperctl() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local commands="ping status start stop backup list verify restore prune pin unpin reload wrap session
		discover add"
	local i cmd='' cmdi=0 game='' nargs=0

	# File names may hold spaces: one per line, and bash quotes them.
	if [[ $prev == --socket || $prev == -s || $prev == --config || $prev == -c ]]; then
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return
	fi
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--socket | -s | --config | -c) ((i++)) ;;
		-*) ;;
		*) if [[ -z $cmd ]]; then cmd=${COMP_WORDS[i]} cmdi=$i; else ((nargs++)); fi ;;
		esac
	done
	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--socket --config --json --help --version" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return
	fi
	# After wrap's "--" comes the game's own command line.
	for ((i = cmdi + 1; i < COMP_CWORD; i++)); do
		if [[ $cmd == wrap && ${COMP_WORDS[i]} == -- ]]; then
			mapfile -t COMPREPLY < <(compgen -c -- "$cur" | sort -u)
			return
		fi
	done
	if [[ $cur == -* ]]; then
		case $cmd in
		backup) COMPREPLY=($(compgen -W "--wait" -- "$cur")) ;;
		restore) COMPREPLY=($(compgen -W "--dry-run --undo" -- "$cur")) ;;
		prune) COMPREPLY=($(compgen -W "--dry-run" -- "$cur")) ;;
		wrap) COMPREPLY=($(compgen -W "--" -- "$cur")) ;;
		discover) COMPREPLY=($(compgen -W "--json" -- "$cur")) ;;
		esac
		return
	fi
	((nargs > 0)) && game=${COMP_WORDS[cmdi + 1]}
	case $cmd in
	add)
		# Titles hold spaces: the installed Steam games are offered by app id.
		((nargs == 0)) && COMPREPLY=($(compgen -W "$(_savekeeperctl_steam_apps)" -- "$cur"))
		;;
	session)
		COMPREPLY=($(compgen -W "$( ((nargs == 0)) && _savekeeperctl_games) begin end" -- "$cur"))
		;;
	status | start | stop | backup | list | prune | wrap)
		((nargs == 0)) && COMPREPLY=($(compgen -W "$(_savekeeperctl_games)" -- "$cur"))
		;;
	verify | restore | pin | unpin)
		local extra=
		[[ $cmd == verify ]] && extra="all latest"
		[[ $cmd == restore ]] && extra="latest"
		if ((nargs == 0)); then
			COMPREPLY=($(compgen -W "$(_savekeeperctl_games) $(_savekeeperctl_ids) $extra" -- "$cur"))
		elif ((nargs == 1)); then
			COMPREPLY=($(compgen -W "$(_savekeeperctl_ids "$game") $extra" -- "$cur"))
		fi
		;;
	esac
}
complete -F _savekeeperctl savekeeperctl
