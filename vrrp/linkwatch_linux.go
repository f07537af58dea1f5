package vrrp

import (
	"errors"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// LinkWatcher is a Transport that also says when a link or an address
// changed in its network namespace, so the instance checks its interfaces
// and source address at once instead of at its next poll: keepalived
// follows the same netlink events, and sees a link go down the moment
// the kernel does.
type LinkWatcher interface {
	// LinkChanges gets a value after changes (several close together may
	// come as one); nil when the transport cannot watch (the instance
	// then only polls).
	LinkChanges() <-chan struct{}
}

// linkWatch listens to rtnetlink's link and address groups.
type linkWatch struct {
	c       *netlink.Conn
	changed chan struct{}
	done    chan struct{}
}

// watchLinks subscribes in the calling thread's network namespace.
// github.com/mdlayher/netlink rather than vishvananda/netlink's
// LinkSubscribe: its Close interrupts a blocked Receive, so the watch ends
// with the transport, and a subscription there would also need an address
// one beside it.
func watchLinks() (*linkWatch, error) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{
		Groups: unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR,
	})
	if err != nil {
		return nil, err
	}
	w := &linkWatch{c: c, changed: make(chan struct{}, 1), done: make(chan struct{})}
	go w.run()
	return w, nil
}

func (w *linkWatch) run() {
	defer close(w.done)
	for {
		// What changed does not matter: the instance reads the state.
		if _, err := w.c.Receive(); err != nil && !errors.Is(err, unix.ENOBUFS) {
			// Closed (or broken: the instance still polls). ENOBUFS
			// means events were lost, so something changed.
			return
		}
		select {
		case w.changed <- struct{}{}:
		default: // a check is pending already
		}
	}
}

// events is the watch's channel, nil without a watch.
func (w *linkWatch) events() <-chan struct{} {
	if w == nil {
		return nil
	}
	return w.changed
}

// close ends the watch; nil is closed.
func (w *linkWatch) close() {
	if w == nil {
		return
	}
	w.c.Close()
	<-w.done
}
