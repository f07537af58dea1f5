package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Client talks to a director's control socket.
type Client struct {
	Path string
	// Timeout bounds a call when ctx has no deadline; 0 means 60 s.
	Timeout time.Duration
}

// RemoteError is an error the daemon returned (a rejected configuration,
// an unknown service, ...), as opposed to failing to reach it.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }

// FindSocket picks the control socket: path if given, else the one of
// iface, else the only socket of this network namespace (one director is
// the common case, and it spares typing --iface on every command).
func FindSocket(path, iface string) (string, error) {
	switch {
	case path != "":
		return path, nil
	case iface != "":
		return DefaultSocketPath(iface), nil
	}
	dir := SocketDir()
	found, _ := filepath.Glob(filepath.Join(dir, "*.sock"))
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("no control socket in %s: is `xlb run` running in this network namespace? (or give --iface / --socket)", dir)
	}
	return "", fmt.Errorf("several directors run (%v): give --iface or --socket", found)
}

// Call sends one request and decodes the result into result (may be nil).
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	if _, ok := ctx.Deadline(); !ok {
		t := c.Timeout
		if t <= 0 {
			t = handlerTimeout
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.Path)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("control socket %s: %w (xlb commands need root)", c.Path, err)
		}
		return fmt.Errorf("control socket %s: %w", c.Path, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	req := Request{Method: method}
	if params != nil {
		if req.Params, err = json.Marshal(params); err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
	}
	werr := json.NewEncoder(conn).Encode(req)
	var resp Response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		if werr != nil {
			return fmt.Errorf("send request: %w", werr)
		}
		return fmt.Errorf("read response: %w", err)
	}
	// A write error with a response read means the server answered
	// without reading (a refusal): the response says why.
	if resp.Code == codeDenied {
		return fmt.Errorf("%s: %w", resp.Error, os.ErrPermission)
	}
	if resp.Error != "" {
		return &RemoteError{Msg: resp.Error}
	}
	if result != nil && len(resp.Result) > 0 {
		if err := json.Unmarshal(resp.Result, result); err != nil {
			return fmt.Errorf("decode result: %w", err)
		}
	}
	return nil
}

// Snapshot fetches the director's state.
func (c *Client) Snapshot(ctx context.Context) (*Snapshot, error) {
	var s Snapshot
	if err := c.Call(ctx, MethodSnapshot, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Conns fetches up to limit flows (all when limit <= 0).
func (c *Client) Conns(ctx context.Context, limit int) (ConnsResult, error) {
	var r ConnsResult
	err := c.Call(ctx, MethodConns, ConnsParams{Limit: limit}, &r)
	return r, err
}

// Reload asks the daemon to re-read its configuration file.
func (c *Client) Reload(ctx context.Context) error {
	return c.Call(ctx, MethodReload, nil, nil)
}

// ConfigYAML returns the running configuration as xlb YAML.
func (c *Client) ConfigYAML(ctx context.Context) (string, error) {
	var r ConfigResult
	err := c.Call(ctx, MethodConfig, nil, &r)
	return r.YAML, err
}

// Edit applies a runtime edit.
func (c *Client) Edit(ctx context.Context, e Edit) error {
	return c.Call(ctx, MethodEdit, e, nil)
}

// Zero zeroes the listed counters of one service, or all when p names
// none (ipvsadm -Z).
func (c *Client) Zero(ctx context.Context, p ZeroParams) error {
	return c.Call(ctx, MethodZero, p, nil)
}
