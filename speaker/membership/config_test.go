package membership

import (
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	c := DefaultConfig()
	c.NodeName = "node-a"
	c.BindAddr = "198.18.0.1"
	c.Secret = []byte("0123456789abcdef")
	return c
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr []string // substrings, all required; nil means valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"zero timings take defaults", func(c *Config) { *c = Config{NodeName: "n", BindAddr: "::1", Secret: c.Secret} }, nil},
		{"unspecified bind with advertise", func(c *Config) { c.BindAddr, c.AdvertiseAddr = "0.0.0.0", "198.18.0.1" }, nil},
		{"no name", func(c *Config) { c.NodeName = "" }, []string{"node name is empty"}},
		{"bind not an IP", func(c *Config) { c.BindAddr = "node-a" }, []string{`bind address "node-a" is not an IP`}},
		{"bind empty", func(c *Config) { c.BindAddr = "" }, []string{`bind address "" is not an IP`}},
		{"unspecified bind alone", func(c *Config) { c.BindAddr = "0.0.0.0" }, []string{"set the advertise address"}},
		{"bad advertise", func(c *Config) { c.AdvertiseAddr = "::" }, []string{"advertise address"}},
		{"port too big", func(c *Config) { c.Port = 70000 }, []string{"port 70000 is out of range"}},
		{"negative port", func(c *Config) { c.Port = -1 }, []string{"port -1"}},
		{"probe timeout too long", func(c *Config) { c.ProbeTimeout = c.ProbeInterval }, []string{"probe timeout 100ms must be shorter"}},
		{"negative gossip interval", func(c *Config) { c.GossipInterval = -time.Second }, []string{"gossip interval -1s is negative"}},
		{"negative multiplier", func(c *Config) { c.SuspicionMult = -2 }, []string{"suspicion multiplier -2 must be at least 1"}},
		{"no secret", func(c *Config) { c.Secret = nil }, []string{"secret for memberlist encryption is 0 bytes; need at least 16 random bytes"}},
		{"short secret", func(c *Config) { c.Secret = []byte("hunter2") }, []string{"is 7 bytes"}},
		{"several problems at once", func(c *Config) { c.NodeName, c.Secret = "", nil }, []string{"node name is empty", "is 0 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.edit(&c)
			err := c.withDefaults().validate()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("validate succeeded, want errors %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

// TestNewRefusesWithoutSecret: there must be no way to start an unencrypted cluster.
func TestNewRefusesWithoutSecret(t *testing.T) {
	c := validConfig()
	c.BindAddr = "127.0.0.1"
	c.Port = freePort(t)
	c.Secret = nil
	m, err := New(c)
	if err == nil {
		m.Shutdown()
		t.Fatal("New without a secret succeeded")
	}
	if !strings.Contains(err.Error(), "is 0 bytes") {
		t.Errorf("error %q does not name the secret's length", err)
	}
}

func TestMemberlistConfig(t *testing.T) {
	c := validConfig()
	c.Port = 17946
	mc := c.withDefaults().memberlistConfig()
	checks := []struct {
		name      string
		got, want any
	}{
		{"Name", mc.Name, "node-a"},
		{"BindAddr", mc.BindAddr, "198.18.0.1"},
		{"BindPort", mc.BindPort, 17946},
		{"AdvertisePort", mc.AdvertisePort, 17946},
		{"ProbeInterval", mc.ProbeInterval, 100 * time.Millisecond},
		{"ProbeTimeout", mc.ProbeTimeout, 50 * time.Millisecond},
		{"SuspicionMult", mc.SuspicionMult, 3},
		{"SuspicionMaxTimeoutMult", mc.SuspicionMaxTimeoutMult, 6},
		{"GossipInterval", mc.GossipInterval, 20 * time.Millisecond},
		{"GossipNodes", mc.GossipNodes, 3},
		{"RetransmitMult", mc.RetransmitMult, 4},
		{"PushPullInterval", mc.PushPullInterval, 5 * time.Second},
		{"TCPTimeout", mc.TCPTimeout, time.Second},
		{"IndirectChecks", mc.IndirectChecks, 3},
		{"GossipVerifyIncoming", mc.GossipVerifyIncoming, true},
		{"GossipVerifyOutgoing", mc.GossipVerifyOutgoing, true},
		{"Label", mc.Label, "ironlb"},
		{"EnableCompression", mc.EnableCompression, false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestDefaultTimingBudget keeps the documented detection estimate honest: for up to
// 10 nodes, probe round plus suspicion must stay within the ~600 ms failover budget.
func TestDefaultTimingBudget(t *testing.T) {
	c := DefaultConfig()
	worst := 2*c.ProbeInterval + // wait for a probe, then the failed probe round
		time.Duration(c.SuspicionMult)*c.ProbeInterval + // suspicion, log10(10) = 1
		2*c.GossipInterval // the verdict spreading
	if worst > 600*time.Millisecond {
		t.Fatalf("default timings give up to %s to detect a dead node, over 600ms", worst)
	}
	if c.SuspicionMult < 3 {
		t.Errorf("SuspicionMult %d < 3: memberlist would need no confirmation from a second node", c.SuspicionMult)
	}
	if c.TCPTimeout >= c.RejoinInterval {
		t.Errorf("TCPTimeout %s should be below RejoinInterval %s so one dead peer cannot stall the rejoin loop", c.TCPTimeout, c.RejoinInterval)
	}
}
