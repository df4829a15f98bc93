package membership

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// slogWriter turns memberlist's log lines ("[WARN] memberlist: text") into slog
// records. memberlist only takes a *log.Logger, so this is the io.Writer behind one.
type slogWriter struct {
	log *slog.Logger
	// keepLevels logs each line at memberlist's own level; otherwise every line is
	// logged at debug (see Config.MemberlistLogLevels).
	keepLevels bool
	// onRefute, if set, is called for each line saying memberlist refuted a claim that
	// this node is suspect or dead: memberlist tells that only in its log.
	onRefute func()
}

// newMemberlistLogger returns the *log.Logger to hand to memberlist.
func newMemberlistLogger(l *slog.Logger, keepLevels bool, onRefute func()) *log.Logger {
	return log.New(&slogWriter{log: l.With("component", "memberlist"), keepLevels: keepLevels, onRefute: onRefute}, "", 0)
}

// refuteLines start memberlist's messages (since v0.1) for a refuted suspect or dead
// verdict about this node.
var refuteLines = [][]byte{[]byte("Refuting a suspect message"), []byte("Refuting a dead message")}

// memberlistLevels maps memberlist's level tags to slog levels.
var memberlistLevels = []struct {
	tag   string
	level slog.Level
}{
	{"[DEBUG]", slog.LevelDebug},
	{"[INFO]", slog.LevelInfo},
	{"[WARN]", slog.LevelWarn},
	{"[ERR]", slog.LevelError},
	{"[ERROR]", slog.LevelError},
}

// Write logs one line; log.Logger calls it once per Printf.
func (w *slogWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level := slog.LevelInfo // untagged lines are rare; treat them as info
	for _, l := range memberlistLevels {
		if rest, ok := bytes.CutPrefix(line, []byte(l.tag)); ok {
			level, line = l.level, bytes.TrimSpace(rest)
			break
		}
	}
	line = bytes.TrimPrefix(line, []byte("memberlist: "))
	if w.onRefute != nil && (bytes.HasPrefix(line, refuteLines[0]) || bytes.HasPrefix(line, refuteLines[1])) {
		w.onRefute()
	}
	if !w.keepLevels {
		level = slog.LevelDebug
	}
	ctx := context.Background()
	if w.log.Enabled(ctx, level) {
		w.log.Log(ctx, level, string(line))
	}
	return len(p), nil
}
