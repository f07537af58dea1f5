package iproute

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Entries are the addresses, routes and rules of one set. They are added
// in that order (a route's src or via may need an address) and removed in
// the reverse one.
type Entries struct {
	Addrs  []Addr
	Routes []Route
	Rules  []netlink.Rule
}

// Empty says whether there is nothing to add.
func (e Entries) Empty() bool { return len(e.Addrs)+len(e.Routes)+len(e.Rules) == 0 }

// Set adds its Entries (Acquire) and removes those it added (Release):
// keepalived's static_* at start and stop, a vrrp_instance's
// virtual_routes and virtual_rules with mastership. It works in the
// network namespace of the thread that called New, whichever goroutine
// calls it later. It is safe for concurrent use.
type Set struct {
	ns  netns.NsHandle
	nl  *netlink.Handle
	log *slog.Logger

	mu     sync.Mutex
	want   Entries
	active bool // between Acquire and Release: Update applies at once
	// What this Set added (or found present) and will remove.
	addrs  []Addr
	routes []Route
	rules  []netlink.Rule
}

// New returns a Set of e in the calling thread's network namespace; it
// adds nothing yet.
func New(e Entries, log *slog.Logger) (*Set, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("iproute: get network namespace: %w", err)
	}
	// Route netlink only: asking for every family fails on kernels built
	// without xfrm.
	nl, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("iproute: netlink handle: %w", err)
	}
	return &Set{ns: ns, nl: nl, log: log, want: e}, nil
}

// Close releases the netlink handle; it removes nothing (a hitless
// restart keeps the routes): call Release first for that.
func (s *Set) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nl != nil {
		s.nl.Close()
		s.nl = nil
		s.ns.Close()
	}
	return nil
}

// Acquire adds every entry not added yet. A failed entry does not stop
// the others; the errors are returned together, and Acquire may be called
// again to retry them.
func (s *Set) Acquire() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active = true
	return s.addLocked()
}

// Release removes what Acquire added, rules first, addresses last.
func (s *Set) Release() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active = false
	return s.removeLocked(func(any) bool { return true })
}

// Update makes e the entries of the set. While acquired, the entries gone
// are removed and the new ones added at once; the unchanged ones stay.
func (s *Set) Update(e Entries) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.want = e
	if !s.active {
		return nil
	}
	gone := func(x any) bool {
		switch x := x.(type) {
		case Addr:
			return !contains(e.Addrs, x)
		case Route:
			return !contains(e.Routes, x)
		case netlink.Rule:
			return !contains(e.Rules, x)
		}
		return false
	}
	return errors.Join(s.removeLocked(gone), s.addLocked())
}

// Purge removes the entries of the set that are present though this Set
// did not add them: left by a run that was killed. keepalived does the
// same at start ("removing Virtual Routes" of an instance that starts as
// backup).
func (s *Set) Purge() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nl == nil {
		return
	}
	for _, r := range s.want.Rules {
		if !contains(s.rules, r) {
			_ = s.nl.RuleDel(&r)
		}
	}
	for _, r := range s.want.Routes {
		if !contains(s.routes, r) {
			if nr, err := s.resolve(r); err == nil {
				_ = s.nl.RouteDel(&nr)
			}
		}
	}
}

func contains[T any](list []T, x T) bool {
	return slices.ContainsFunc(list, func(y T) bool { return reflect.DeepEqual(x, y) })
}

// resolve gives a route its interface's index.
func (s *Set) resolve(r Route) (netlink.Route, error) {
	nr := r.Route
	if r.Dev != "" {
		link, err := s.nl.LinkByName(r.Dev)
		if err != nil {
			return nr, fmt.Errorf("interface %q: %w", r.Dev, err)
		}
		nr.LinkIndex = link.Attrs().Index
	}
	return nr, nil
}

// addLocked adds the wanted entries not held. One already present counts
// as held and goes at Release: a virtual route a killed run left, or the
// same route set by hand, must still leave with mastership, or both
// routers would route.
func (s *Set) addLocked() error {
	if s.nl == nil {
		return errors.New("iproute: set closed")
	}
	var errs []error
	for _, a := range s.want.Addrs {
		if contains(s.addrs, a) {
			continue
		}
		link, err := s.nl.LinkByName(a.Dev)
		if err == nil {
			na := a.Addr
			err = s.nl.AddrAdd(link, &na)
		}
		if err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("iproute: add address %s dev %s: %w", a.IPNet, a.Dev, err))
			continue
		}
		s.addrs = append(s.addrs, a)
		s.log.Info("address added", "addr", a.IPNet.String(), "dev", a.Dev)
	}
	for _, r := range s.want.Routes {
		if contains(s.routes, r) {
			continue
		}
		nr, err := s.resolve(r)
		if err == nil {
			err = s.nl.RouteAdd(&nr)
		}
		if err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("iproute: add route %s: %w", r, err))
			continue
		}
		s.routes = append(s.routes, r)
		s.log.Info("route added", "route", r.String())
	}
	for _, r := range s.want.Rules {
		if contains(s.rules, r) {
			continue
		}
		if err := s.nl.RuleAdd(&r); err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("iproute: add rule %s: %w", r, err))
			continue
		}
		s.rules = append(s.rules, r)
		s.log.Info("rule added", "rule", r.String())
	}
	return errors.Join(errs...)
}

// removeLocked removes the held entries drop selects, in the reverse
// order of addLocked. An entry already gone counts as removed.
func (s *Set) removeLocked(drop func(any) bool) error {
	if s.nl == nil {
		return errors.New("iproute: set closed")
	}
	var errs []error
	s.rules = slices.DeleteFunc(s.rules, func(r netlink.Rule) bool {
		if !drop(r) {
			return false
		}
		if err := s.nl.RuleDel(&r); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("iproute: remove rule %s: %w", r, err))
			return false
		}
		s.log.Info("rule removed", "rule", r.String())
		return true
	})
	s.routes = slices.DeleteFunc(s.routes, func(r Route) bool {
		if !drop(r) {
			return false
		}
		nr, err := s.resolve(r)
		if err != nil {
			// The interface is gone, and its routes with it.
			return true
		}
		if err := s.nl.RouteDel(&nr); err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("iproute: remove route %s: %w", r, err))
			return false
		}
		s.log.Info("route removed", "route", r.String())
		return true
	})
	s.addrs = slices.DeleteFunc(s.addrs, func(a Addr) bool {
		if !drop(a) {
			return false
		}
		link, err := s.nl.LinkByName(a.Dev)
		if err != nil {
			return true // the interface is gone, and its addresses with it
		}
		na := a.Addr
		if err := s.nl.AddrDel(link, &na); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("iproute: remove address %s dev %s: %w", a.IPNet, a.Dev, err))
			return false
		}
		s.log.Info("address removed", "addr", a.IPNet.String(), "dev", a.Dev)
		return true
	})
	return errors.Join(errs...)
}
