package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/xlb-project/xlb/config"
	"golang.org/x/sys/unix"
)

// Source is what the control server needs of a running director.
// DirectorSource adapts *director.Director; tests use fakes.
type Source interface {
	Snapshot(ctx context.Context) (*Snapshot, error)
	Conns(ctx context.Context, limit int) (ConnsResult, error)
	// Config returns the running configuration; callers must not modify it.
	Config() *config.Config
	// ApplyConfig validates cfg whole and makes it the running configuration.
	ApplyConfig(ctx context.Context, cfg *config.Config) error
	// Reload re-reads the configuration file (as SIGHUP does).
	Reload(ctx context.Context) error
	// Zero zeroes the listed counters of the service p names (all when
	// none); a service that does not run is an error.
	Zero(ctx context.Context, p ZeroParams) error
}

// Request is what a client sends: one per connection.
type Request struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params,omitempty"`
}

// Response is the server's answer. Error is empty on success.
type Response struct {
	Error string `json:"error,omitempty"`
	// Code classifies some errors so the client can wrap a sentinel.
	Code   string          `json:"code,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

// editedSuffix marks a configuration changed by runtime edits.
const editedSuffix = " (edited at runtime)"

// codeDenied marks a refused peer; the client maps it to os.ErrPermission.
const codeDenied = "denied"

const (
	maxRequest     = 1 << 20
	readTimeout    = 5 * time.Second
	writeTimeout   = 30 * time.Second
	handlerTimeout = 60 * time.Second
)

// Server serves the control protocol on a unix socket.
type Server struct {
	src  Source
	log  *slog.Logger
	ln   *net.UnixListener
	path string
	// allowUID is the only peer uid served. Always 0 outside this
	// package's tests, which have no other way to exercise the check
	// from both sides.
	allowUID uint32

	// editMu serialises edits and reloads: an edit reads the running
	// configuration, changes it and applies it, and two of them
	// interleaving would silently lose one.
	editMu sync.Mutex
	wg     sync.WaitGroup
	once   sync.Once
}

// Listen creates the socket at path (mode 0600) and returns a server that
// answers on it once Serve runs. A stale socket left by a crashed daemon
// is replaced; one a live daemon answers on is not.
func Listen(path string, src Source, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket directory: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s is in use: is another xlb running on this interface?", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale control socket: %w", err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// A peer connecting between bind and chmod still meets the
	// credential check, so the window needs no umask games (umask is
	// process-wide and would race other goroutines creating files).
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return &Server{src: src, log: log, ln: ln, path: path}, nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Serve answers requests until ctx ends or Close is called, then removes
// the socket and waits for requests in progress.
func (s *Server) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				s.wg.Wait()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.Close()
			s.wg.Wait()
			return fmt.Errorf("control socket accept: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, c)
		}()
	}
}

// Close stops accepting and removes the socket file.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		err = s.ln.Close()
		// Named network namespaces come and go (labs, tests): do not
		// leave their empty socket directories behind. Remove fails
		// harmlessly while another director's socket is in it.
		if dir := filepath.Dir(s.path); filepath.Dir(dir) == filepath.Join(DefaultDir, "netns") {
			_ = os.Remove(dir)
		}
	})
	return err
}

func (s *Server) serveConn(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	cred, err := peerCred(c)
	if err != nil {
		s.log.Warn("control: peer credentials", "err", err)
		return
	}
	if cred.Uid != s.allowUID {
		s.log.Warn("control: refused non-root peer", "uid", cred.Uid, "pid", cred.Pid)
		// Take the request off the socket first: closing with unread data
		// resets the connection, and the peer should learn why it failed.
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_ = json.NewDecoder(io.LimitReader(c, maxRequest)).Decode(&Request{})
		s.reply(c, Response{Error: fmt.Sprintf("permission denied: the control socket is for root only (peer uid %d)", cred.Uid), Code: codeDenied})
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(readTimeout))
	var req Request
	if err := json.NewDecoder(io.LimitReader(c, maxRequest)).Decode(&req); err != nil {
		s.reply(c, Response{Error: fmt.Sprintf("bad request: %v", err)})
		return
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), handlerTimeout)
	defer cancel()
	res, err := s.handle(hctx, req, cred.Pid)
	if err != nil {
		s.reply(c, Response{Error: err.Error()})
		return
	}
	var raw json.RawMessage
	if res != nil {
		if raw, err = json.Marshal(res); err != nil {
			s.reply(c, Response{Error: fmt.Sprintf("encode result: %v", err)})
			return
		}
	}
	s.reply(c, Response{Result: raw})
}

func (s *Server) reply(c *net.UnixConn, r Response) {
	_ = c.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := json.NewEncoder(c).Encode(r); err != nil {
		s.log.Debug("control: write response", "err", err)
	}
}

func (s *Server) handle(ctx context.Context, req Request, pid int32) (any, error) {
	switch req.Method {
	case MethodSnapshot:
		return s.src.Snapshot(ctx)
	case MethodConns:
		var p ConnsParams
		if err := decodeParams(req.Params, &p); err != nil {
			return nil, err
		}
		return s.src.Conns(ctx, p.Limit)
	case MethodConfig:
		cfg := s.src.Config().Clone()
		// MarshalYAML would head it "converted from" the file; say what
		// it is instead.
		head := "# running xlb configuration\n"
		if cfg.Source != "" {
			head = "# running xlb configuration, read from " + cfg.Source + "\n"
		}
		cfg.Source = ""
		y, err := config.MarshalYAML(cfg)
		if err != nil {
			return nil, err
		}
		return ConfigResult{YAML: head + string(y)}, nil
	case MethodReload:
		s.editMu.Lock()
		defer s.editMu.Unlock()
		s.log.Info("control: reload requested", "pid", pid)
		if err := s.src.Reload(ctx); err != nil {
			s.log.Error("reload", "err", err)
			return nil, err
		}
		return nil, nil
	case MethodZero:
		var p ZeroParams
		if err := decodeParams(req.Params, &p); err != nil {
			return nil, err
		}
		if err := s.src.Zero(ctx, p); err != nil {
			return nil, err
		}
		s.log.Info("control: counters zeroed", "service", p.String(), "pid", pid)
		return nil, nil
	case MethodEdit:
		var e Edit
		if err := decodeParams(req.Params, &e); err != nil {
			return nil, err
		}
		s.editMu.Lock()
		defer s.editMu.Unlock()
		cfg := s.src.Config().Clone()
		// Problems found by validation are reported against Source; the
		// file did not cause them.
		if cfg.Source != "" && !strings.HasSuffix(cfg.Source, editedSuffix) {
			cfg.Source += editedSuffix
		}
		if err := e.Apply(cfg); err != nil {
			return nil, err
		}
		if err := s.src.ApplyConfig(ctx, cfg); err != nil {
			return nil, err
		}
		s.log.Info("control: runtime edit applied", "edit", e.String(), "pid", pid)
		return nil, nil
	}
	return nil, fmt.Errorf("unknown method %q", req.Method)
}

func decodeParams(raw json.RawMessage, dst any) error {
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("bad params: %w", err)
	}
	return nil
}

func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, fmt.Errorf("SO_PEERCRED: %w", cerr)
	}
	return cred, nil
}
