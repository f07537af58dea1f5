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

// Test hooks into the service slots (svc_slots).

// SlotOf is the slot the datapath looks k up in.
func SlotOf(k Key) uint32 { return svcSlot(k.bpf()) }

// SlotHolder reads slot: 1 + the id of the service it names, 0 for none.
func (s *Services) SlotHolder(slot uint32) (uint32, error) {
	var v uint32
	err := s.m.SvcSlots.Lookup(slot, &v)
	return v, err
}

// Unhash deletes k from the services hash only, leaving its slot and
// index entry: what the datapath then finds, it found through the slot.
func (s *Services) Unhash(k Key) error { return s.m.Services.Delete(k.bpf()) }

// GuestBooks reads the guest bookkeeping of the IPv4 table: the sum of
// the buckets' guest counts, and the slots marked as guests.
func (c *Conns) GuestBooks() (counted, marked int) {
	t := c.t4
	for i := range t.buckets {
		base := i * bucketSize
		counted += int(t.word(base+4) >> 16)
		for s := range FlowWays {
			w := t.word(base + 8 + 20*s + 12) // proto | state << 8 | backend << 16
			if uint8(w) != 0 && uint8(w>>8)&flowGuest != 0 {
				marked++
			}
		}
	}
	return counted, marked
}
