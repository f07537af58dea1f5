package director

import (
	"errors"
	"fmt"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/iproute"
)

// entries parses route, rule and address lines of a validated
// configuration; an error means validation and iproute disagree.
func entries(addrs, routes, rules []string) (iproute.Entries, error) {
	var e iproute.Entries
	for _, l := range addrs {
		a, err := iproute.ParseAddr(l)
		if err != nil {
			return e, fmt.Errorf("address %q: %w", l, err)
		}
		e.Addrs = append(e.Addrs, a)
	}
	for _, l := range routes {
		r, err := iproute.ParseRoute(l)
		if err != nil {
			return e, fmt.Errorf("route %q: %w", l, err)
		}
		e.Routes = append(e.Routes, r)
	}
	for _, l := range rules {
		r, err := iproute.ParseRule(l)
		if err != nil {
			return e, fmt.Errorf("rule %q: %w", l, err)
		}
		e.Rules = append(e.Rules, r)
	}
	return e, nil
}

// staticEntries are keepalived's static_ipaddress, static_routes and
// static_rules of cfg.
func staticEntries(cfg *config.Config) (iproute.Entries, error) {
	return entries(cfg.StaticAddrs, cfg.StaticRoutes, cfg.StaticRules)
}

// virtualEntries are an instance's virtual_routes and virtual_rules.
func virtualEntries(v config.VRRPInstance) (iproute.Entries, error) {
	return entries(nil, v.VirtualRoutes, v.VirtualRules)
}

// startStatic adds the static addresses, routes and rules once, whatever
// the VRRP states, as keepalived does at start. One that fails is logged,
// not fatal: keepalived goes on too, and the next reload retries it.
func (d *Director) startStatic(cfg *config.Config) error {
	e, err := staticEntries(cfg)
	if err != nil {
		return err
	}
	s, err := iproute.New(e, d.log.With("component", "static"))
	if err != nil {
		return err
	}
	d.static = s
	if err := s.Acquire(); err != nil {
		d.log.Error("static addresses, routes and rules", "err", err)
	}
	return nil
}

// stopStatic removes the static entries, as keepalived does at stop,
// unless the stop is a restart in place (!detach), which keeps them as
// it keeps the VIPs.
func (d *Director) stopStatic(detach bool) error {
	if d.static == nil {
		return nil
	}
	var err error
	if detach {
		err = d.static.Release()
	}
	return errors.Join(err, d.static.Close())
}

// reloadStatic applies the difference of a reload to the static entries.
func (d *Director) reloadStatic(cfg *config.Config) {
	e, err := staticEntries(cfg)
	if err == nil {
		err = d.static.Update(e)
	}
	if err != nil {
		d.log.Error("static addresses, routes and rules", "err", err)
	}
}
