# A LAN for the network tests, on top of tools/lib/two-hosts.sh's two hosts: a client and
# both hosts joined by one L2 switch, as a guest that moves between hosts meets it.
#
#   hopvm-switch   bridge sw0, a port (veth) for each of the others
#   hopvm-a, -b    bridge br0 = the uplink to the switch + the guests' TAPs; 10.78.0.1, .2
#                  (their own link, 10.77.0.x, stays the migration stream's)
#   hopvm-client   10.78.0.100 on its uplink
#
# Guests take addresses from 10.78.0.10 up.  The switch learns where each MAC is, so after a
# migration it sends the guest's frames to the old host until the guest (or hopvm for it)
# announces itself from the new one.  Nothing outside these namespaces is touched.  Needs
# root, iproute2 and the bridge, veth and tun drivers.
. "$(dirname "${BASH_SOURCE[0]}")/two-hosts.sh"
LAN_HOST_A=10.78.0.1
LAN_HOST_B=10.78.0.2
LAN_CLIENT=10.78.0.100
LAN_GUEST=10.78.0.10

lan_up() {
	local h addr
	lan_down
	hosts_up || return 1
	ip netns add hopvm-switch && ip netns add hopvm-client || return 1
	ip -n hopvm-switch link add sw0 type bridge &&
		ip -n hopvm-switch link set sw0 up && ip -n hopvm-switch link set lo up &&
		ip -n hopvm-client link set lo up || return 1
	for h in a b client; do
		local ns=hopvm-$h
		ip link add uplink netns "$ns" type veth peer name "port-$h" netns hopvm-switch &&
			ip -n hopvm-switch link set "port-$h" master sw0 up || return 1
	done
	for h in a b; do
		addr=$LAN_HOST_A
		[ $h = b ] && addr=$LAN_HOST_B
		ip -n "hopvm-$h" link add br0 type bridge &&
			ip -n "hopvm-$h" link set uplink master br0 up &&
			ip -n "hopvm-$h" addr add "$addr/24" dev br0 &&
			ip -n "hopvm-$h" link set br0 up || return 1
	done
	ip -n hopvm-client addr add "$LAN_CLIENT/24" dev uplink &&
		ip -n hopvm-client link set uplink up
}

# lan_tap_add HOST NAME: a persistent TAP on host a or b, in its bridge and up, for a guest.
lan_tap_add() {
	ip -n "hopvm-$1" tuntap add "$2" mode tap vnet_hdr &&
		ip -n "hopvm-$1" link set "$2" master br0 up
}

# Takes the LAN away, leaving the two hosts and their own link.
lan_down() {
	local h
	ip netns del hopvm-switch 2>/dev/null
	ip netns del hopvm-client 2>/dev/null
	for h in a b; do
		ip -n "hopvm-$h" link del br0 2>/dev/null
		ip -n "hopvm-$h" -o link show type tun 2>/dev/null | awk -F': ' '{ print $2 }' |
			while read -r tap; do ip -n "hopvm-$h" link del "$tap"; done
	done
	true
}
