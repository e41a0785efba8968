# Helpers for boot tests: each case runs one command, then checks its exit status and what it
# printed.  Sourced by tests/boot/run; results go to $OUT.
#
#   case_begin NAME
#   run_expect STATUS COMMAND [ARGS...]   run it (with a timeout, stdin from $CASE_STDIN or
#                                         /dev/null), check the status
#   out_has TEXT / out_lacks TEXT / err_has TEXT / err_empty / out_is TEXT / err_is TEXT
#   case_end
#   case_skip NAME WHY
#   case_runs                             true inside a case that really runs here
#   in_part NAME                          true if case NAME belongs to this run's part
#
# HOPVM_BOOT_PART says which cases this run takes: all (the default), or, on a host whose KVM
# emulates guest kernel code (PVM), "host" for the cases that run well there and "sandbox" for
# the EMULATOR_BOUND ones, which tests/run-all runs in tools/kvm-sandbox --force-sandbox.
# A case outside the part is neither run nor reported here: the other part reports it.

passed=0 failed=0 skipped=0 counted=0	# counted: the cases of this part
case_name='' case_problems='' case_on=0 case_start=0
BOOT_PART=${HOPVM_BOOT_PART:-all}
# Each case's outcome is appended to PROGRESS as it ends.  A frozen emulated machine stops a
# run midway; tests/run-all then runs the part again with HOPVM_BOOT_RESUME=1, which takes the
# cases already there from the file instead of running them again.
PROGRESS=$OUT/progress-$BOOT_PART
RESUME=${HOPVM_BOOT_RESUME:-0}
[ "${COUNT_ONLY:-0}" = 1 ] || [ "$RESUME" = 1 ] || : >"$PROGRESS"

progress_has() {
	[ -r "$PROGRESS" ] && grep -q " $1\$" "$PROGRESS"
}

# The totals of this part: what ran now and what an earlier, frozen run recorded.
progress_totals() {
	passed=$(grep -c '^ok ' "$PROGRESS")
	failed=$(grep -c '^failed ' "$PROGRESS")
	skipped=$(grep -c '^skipped ' "$PROGRESS")
}

# LONG_CASES (tests/boot/run) are make soak's: make check reports them as skipped, naming
# it; HOPVM_BOOT_LONG=only runs them alone (make soak), =1 with the rest.
is_long() {
	case " ${LONG_CASES:-} " in *" $1 "*) return 0 ;; esac
	return 1
}

in_part() {
	local bound=0
	[ "${HOPVM_BOOT_LONG:-0}" = only ] && ! is_long "$1" && return 1
	# HOPVM_BOOT_ONLY="NAME ...", for a developer: only those cases.
	if [ -n "${HOPVM_BOOT_ONLY:-}" ]; then
		case " $HOPVM_BOOT_ONLY " in *" $1 "*) ;; *) return 1 ;; esac
	fi
	case " $EMULATOR_BOUND " in *" $1 "*) bound=1 ;; esac
	case $BOOT_PART in
	all) return 0 ;;
	sandbox) [ $bound = 1 ] ;;
	host) [ $bound = 0 ] ;;
	*) return 1 ;;
	esac
}

# With COUNT_ONLY=1 nothing runs: the cases are only counted.
case_begin() {
	case_name=$1
	case_problems=''
	case_on=0
	in_part "$1" || return 0
	if is_long "$1" && [ "${HOPVM_BOOT_LONG:-0}" = 0 ]; then
		case_skip "$1" "a long test: make soak runs it"
		return 0
	fi
	counted=$((counted + 1))
	[ "${COUNT_ONLY:-0}" = 1 ] && return 0
	[ "$RESUME" = 1 ] && progress_has "$1" && return 0
	case_on=1
	case_start=$SECONDS
}

case_runs() {
	[ "$case_on" = 1 ]
}

problem() {
	case_problems="$case_problems${case_problems:+; }$1"
}

run_expect() {
	local want=$1 status
	shift
	case_runs || return 0
	timeout "${CASE_TIMEOUT:-60}" "$@" >"$OUT/$case_name.out" 2>"$OUT/$case_name.err" <"${CASE_STDIN:-/dev/null}"
	status=$?
	# Serial consoles end lines with CR LF; compare text without the CR.
	sed -i 's/\r$//' "$OUT/$case_name.out"
	[ "$status" -eq 124 ] && [ "$want" -ne 124 ] && problem "timed out after ${CASE_TIMEOUT:-60} s"
	[ "$status" -eq "$want" ] || problem "exit status $status, expected $want"
}

out_has() {
	case_runs || return 0
	grep -qF -- "$1" "$OUT/$case_name.out" || problem "stdout lacks '$1'"
}

out_lacks() {
	case_runs || return 0
	! grep -qF -- "$1" "$OUT/$case_name.out" || problem "stdout has '$1'"
}

err_has() {
	case_runs || return 0
	grep -qF -- "$1" "$OUT/$case_name.err" || problem "stderr lacks '$1'"
}

# The whole of stdout (or stderr) is exactly TEXT (printf's %b: \n for a newline).
out_is() {
	case_runs || return 0
	[ "$(cat "$OUT/$case_name.out"; echo .)" = "$(printf '%b.' "$1")" ] ||
		problem "stdout is not exactly '$1'"
}

err_is() {
	case_runs || return 0
	[ "$(cat "$OUT/$case_name.err"; echo .)" = "$(printf '%b.' "$1")" ] ||
		problem "stderr is not exactly '$1'"
}

err_empty() {
	case_runs || return 0
	[ ! -s "$OUT/$case_name.err" ] || problem "stderr is not empty"
}

case_end() {
	case_runs || return 0
	case_on=0
	# The case's time, to see where a run's time goes.
	if [ -z "$case_problems" ]; then
		echo "ok - $case_name ($((SECONDS - case_start)) s)"
		echo "ok $case_name" >>"$PROGRESS"
		return
	fi
	echo "not ok - $case_name ($((SECONDS - case_start)) s): $case_problems"
	sed 's/^/    stdout| /' "$OUT/$case_name.out" | head -20
	sed 's/^/    stderr| /' "$OUT/$case_name.err" | head -20
	echo "failed $case_name" >>"$PROGRESS"
}

case_skip() {
	in_part "$1" || return 0
	counted=$((counted + 1))
	[ "${COUNT_ONLY:-0}" = 1 ] && return 0
	[ "$RESUME" = 1 ] && progress_has "$1" && return 0
	echo "skipped - $1: $2"
	echo "skipped $1" >>"$PROGRESS"
}
