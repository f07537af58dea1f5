package maps

import "github.com/xlb-project/xlb/bpf"

// Test hooks into the IPv4 connection table's writer (xlb_conns_ctl).

// InsertFlow4 records client -> vip (TCP) on backend slot, expiring at
// the flow-clock tick expires. It reports whether the table took it.
func (c *Conns) InsertFlow4(client, vip [4]byte, sport, dport uint16, slot uint32, expires uint32) (bool, error) {
	return c.t4.insert(bpf.XlbConnKey4{Saddr: ne32(client[:]), Daddr: ne32(vip[:]), Sport: htons(sport), Dport: htons(dport), Proto: protoTCP}, slot, false, expires)
}

// DeleteFlow4 forgets client -> vip (TCP).
func (c *Conns) DeleteFlow4(client, vip [4]byte, sport, dport uint16) (bool, error) {
	return c.t4.delete(bpf.XlbConnKey4{Saddr: ne32(client[:]), Daddr: ne32(vip[:]), Sport: htons(sport), Dport: htons(dport), Proto: protoTCP}, false)
}

const protoTCP = 6
