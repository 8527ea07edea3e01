package cluster

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
)

// logWriter turns memberlist's "[LEVEL] memberlist: message" lines into
// slog records. memberlist's only word that this node's probe of a member
// failed (it now suspects it) is such a line: suspect, if set, hears it.
type logWriter struct {
	log     *slog.Logger
	suspect func(name string)
}

func (w logWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	level := slog.LevelInfo
	for prefix, l := range map[string]slog.Level{"[DEBUG]": slog.LevelDebug, "[INFO]": slog.LevelInfo, "[WARN]": slog.LevelWarn, "[ERR]": slog.LevelError} {
		if strings.HasPrefix(line, prefix) {
			level = l
			line = strings.TrimSpace(strings.TrimPrefix(line, prefix))
			break
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	if name, ok := strings.CutPrefix(line, "Suspect "); ok && w.suspect != nil {
		if name, ok = strings.CutSuffix(name, " has failed, no acks received"); ok {
			w.suspect(name)
		}
	}
	w.log.Log(context.Background(), level, line)
	return len(p), nil
}
