package vrrp

import (
	"slices"
	"sync"
)

// SyncGroup is keepalived's vrrp_sync_group: instances that change state
// together, so addresses that only work together (VIPs on two networks, a
// VIP and the gateway its real servers answer through) are held by one
// director, never split over two. With keepalived's rules:
//
//   - A member in FAULT (its own interface or script) puts every other
//     member in FAULT; they leave it when no member has a fault of its own.
//   - A member becomes Master only when every member would: its own
//     Master_Down_Timer ran out too, or it is Master already. Until then it
//     waits in Backup, its VIPs unheld, and the last member ready takes the
//     others with it.
//   - A Master that hears a better master goes to Backup and takes the
//     other Masters with it; they send priority 0, so the other director's
//     members (in the same group there) take over after Skew_Time.
//
// Both directors need the same group for it to converge, as with
// keepalived. The group's lock is only ever taken under a member's lock,
// never the other way round: a change that moves other members is carried
// out through their own step after the member's lock is released.
type SyncGroup struct {
	name string

	mu      sync.Mutex
	members []*Instance
	// wants holds the members ready to be Master (timer run out, or
	// Master already).
	wants map[*Instance]bool
	// faulty holds the members in FAULT for reasons of their own.
	faulty map[*Instance]bool
}

// NewSyncGroup makes an empty group; instances join with WithSyncGroup.
func NewSyncGroup(name string) *SyncGroup {
	return &SyncGroup{name: name, wants: map[*Instance]bool{}, faulty: map[*Instance]bool{}}
}

// WithSyncGroup makes the instance a member of g.
func WithSyncGroup(g *SyncGroup) Option { return func(i *Instance) { i.sync = g } }

// Name is the group's name.
func (g *SyncGroup) Name() string { return g.name }

func (g *SyncGroup) join(i *Instance) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !slices.Contains(g.members, i) {
		g.members = append(g.members, i)
	}
}

// leave removes a stopped member and returns the rest, whose fault may
// have been i's.
func (g *SyncGroup) leave(i *Instance) []*Instance {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.members = slices.DeleteFunc(g.members, func(m *Instance) bool { return m == i })
	delete(g.wants, i)
	delete(g.faulty, i)
	return slices.Clone(g.members)
}

// others are the members other than i.
func (g *SyncGroup) others(i *Instance) []*Instance {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*Instance
	for _, m := range g.members {
		if m != i {
			out = append(out, m)
		}
	}
	return out
}

func (g *SyncGroup) setWant(i *Instance, want bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if want {
		g.wants[i] = true
	} else {
		delete(g.wants, i)
	}
}

// readyAll records that i is ready to be Master and reports whether every
// member is.
func (g *SyncGroup) readyAll(i *Instance) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.wants[i] = true
	for _, m := range g.members {
		if !g.wants[m] {
			return false
		}
	}
	return true
}

// setFault records whether i has a fault of its own and reports a change.
func (g *SyncGroup) setFault(i *Instance, faulty bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.faulty[i] == faulty {
		return false
	}
	if faulty {
		g.faulty[i] = true
	} else {
		delete(g.faulty, i)
	}
	return true
}

// faultsBesides names the other members in FAULT of their own, as reasons
// for i's.
func (g *SyncGroup) faultsBesides(i *Instance) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, m := range g.members {
		if m != i && g.faulty[m] {
			out = append(out, "sync group "+g.name+": "+m.name)
		}
	}
	slices.Sort(out)
	return out
}
