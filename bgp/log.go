package bgp

import (
	"context"
	"log/slog"
	"sort"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

// gobgpLogger hands gobgp's messages to slog. gobgp logs every FSM step
// at info; those go to debug so the daemon's log stays about what changed
// (sessions and routes are logged by the Speaker itself).
type gobgpLogger struct {
	log *slog.Logger
}

func (l *gobgpLogger) emit(level slog.Level, msg string, fields gobgplog.Fields) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := make([]any, 0, 2*len(keys)+2)
	args = append(args, "component", "gobgp")
	for _, k := range keys {
		args = append(args, k, fields[k])
	}
	l.log.Log(context.Background(), level, msg, args...)
}

// Panic and Fatal are logged as errors: an embedded library must not end
// the daemon (and with it the datapath's control plane) on its own.
func (l *gobgpLogger) Panic(msg string, f gobgplog.Fields) { l.emit(slog.LevelError, msg, f) }
func (l *gobgpLogger) Fatal(msg string, f gobgplog.Fields) { l.emit(slog.LevelError, msg, f) }
func (l *gobgpLogger) Error(msg string, f gobgplog.Fields) { l.emit(slog.LevelWarn, msg, f) }
func (l *gobgpLogger) Warn(msg string, f gobgplog.Fields)  { l.emit(slog.LevelWarn, msg, f) }
func (l *gobgpLogger) Info(msg string, f gobgplog.Fields)  { l.emit(slog.LevelDebug, msg, f) }
func (l *gobgpLogger) Debug(msg string, f gobgplog.Fields) { l.emit(slog.LevelDebug-4, msg, f) }

// SetLevel is ignored: the slog handler decides.
func (l *gobgpLogger) SetLevel(gobgplog.LogLevel) {}

// GetLevel tells gobgp whether building debug messages is worth it.
func (l *gobgpLogger) GetLevel() gobgplog.LogLevel {
	if l.log.Enabled(context.Background(), slog.LevelDebug-4) {
		return gobgplog.DebugLevel
	}
	return gobgplog.InfoLevel
}
