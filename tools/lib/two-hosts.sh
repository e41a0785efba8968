# Two hosts on one machine for the migration tests, the benchmark and tools/migrate-demo:
# network namespaces hopvm-a (10.77.0.1) and hopvm-b (10.77.0.2) joined by a veth pair, so
# the stream crosses a real (virtual) link rather than loopback.  Needs root and iproute2.
HOST_A=10.77.0.1
HOST_B=10.77.0.2

hosts_up() {
	ip netns exec hopvm-a true 2>/dev/null && return 0
	ip netns add hopvm-a && ip netns add hopvm-b &&
		ip link add veth-a netns hopvm-a type veth peer name veth-b netns hopvm-b &&
		ip -n hopvm-a addr add $HOST_A/24 dev veth-a &&
		ip -n hopvm-b addr add $HOST_B/24 dev veth-b &&
		ip -n hopvm-a link set veth-a up && ip -n hopvm-b link set veth-b up &&
		ip -n hopvm-a link set lo up && ip -n hopvm-b link set lo up
}

hosts_down() {
	ip netns del hopvm-a 2>/dev/null
	ip netns del hopvm-b 2>/dev/null
	true
}

# wait_for FILE TEXT [TENTHS]: until FILE holds TEXT (default 30 s); false on timeout.
wait_for() {
	local i
	for ((i = 0; i < ${3:-300}; i++)); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# migration_wait SOCK [TENTHS]: polls migrate-status until the migration ends; prints the
# last answer (default 120 s).
migration_wait() {
	local i reply=''
	for ((i = 0; i < ${2:-1200}; i++)); do
		reply=$("$HOPVM" ctl "$1" migrate-status 2>&1) || break
		case $reply in
		*'"phase": "completed"'* | *'"phase": "failed"'* | *'"phase": "unconfirmed"'*) break ;;
		esac
		sleep 0.1
	done
	echo "$reply"
}

# migration_wait_phase SOCK PHASE [TENTHS]: until migrate-status reports PHASE.
migration_wait_phase() {
	local i
	for ((i = 0; i < ${3:-600}; i++)); do
		"$HOPVM" ctl "$1" migrate-status 2>/dev/null | grep -qF "\"phase\": \"$2\"" && return 0
		sleep 0.05
	done
	return 1
}
