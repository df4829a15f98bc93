package membership

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestMemberlistLogger(t *testing.T) {
	tests := []struct {
		line       string
		keepLevels bool
		wantLevel  string
		wantMsg    string
	}{
		{"[ERR] memberlist: Failed fallback TCP ping: io: read/write on closed pipe", false, "DEBUG", "Failed fallback TCP ping: io: read/write on closed pipe"},
		{"[ERR] memberlist: Failed fallback TCP ping", true, "ERROR", "Failed fallback TCP ping"},
		{"[WARN] memberlist: Refuting a dead message (from: b)", true, "WARN", "Refuting a dead message (from: b)"},
		{"[INFO] memberlist: Suspect b has failed, no acks received", true, "INFO", "Suspect b has failed, no acks received"},
		{"[DEBUG] memberlist: Stream connection from=127.0.0.1:1", true, "DEBUG", "Stream connection from=127.0.0.1:1"},
		{"something untagged", true, "INFO", "something untagged"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			var buf bytes.Buffer
			l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			newMemberlistLogger(l, tt.keepLevels, nil).Printf("%s", tt.line)
			out := buf.String()
			for _, want := range []string{"level=" + tt.wantLevel, "msg=\"" + tt.wantMsg + "\"", "component=memberlist"} {
				if !strings.Contains(out, want) {
					t.Errorf("log %q does not contain %q", out, want)
				}
			}
		})
	}
}

// TestMemberlistLoggerQuietByDefault: at the speaker's usual info level, memberlist's
// chatter (even its [ERR] lines about pings to a dead node) must not show.
func TestMemberlistLoggerQuietByDefault(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, nil))
	newMemberlistLogger(l, false, nil).Printf("[ERR] memberlist: Failed to send UDP ping")
	if buf.Len() != 0 {
		t.Fatalf("logged at info level: %q", buf.String())
	}
}
