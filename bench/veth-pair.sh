# Sourced by the live benchmarks: a veth pair between two network namespaces,
# $nsr (sender side, veth1) and $nsc (capture side, veth0), IPv6 off, and a
# scratch directory $work; all removed on exit. Usage: veth_pair TAG
veth_pair() {
  local tag=$1 pair
  nsr=${tag}r nsc=${tag}c
  work=$(mktemp -d)
  trap 'ip netns del "$nsr" 2>/dev/null || true; ip netns del "$nsc" 2>/dev/null || true; rm -rf "$work"' EXIT
  ip netns add "$nsr"
  ip netns add "$nsc"
  ip link add "${tag}a" type veth peer name "${tag}b"
  ip link set "${tag}a" netns "$nsr"
  ip link set "${tag}b" netns "$nsc"
  for pair in "$nsr ${tag}a veth1" "$nsc ${tag}b veth0"; do
    set -- $pair
    ip netns exec "$1" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6'
    ip netns exec "$1" ip link set "$2" name "$3"
    ip netns exec "$1" ip link set "$3" up
  done
}
