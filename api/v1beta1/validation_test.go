package v1beta1_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

// apply runs `kubectl apply` with the manifest on stdin, as a user would, and returns what it
// printed on both streams.
func apply(t *testing.T, manifest string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, errOut, err := testenv.Require(t, env).Kubectl(ctx, manifest, "apply", "-f", "-")
	return out + errOut, err
}

func deleteAll(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, errOut, err := env.Kubectl(ctx, "", "delete", "--wait=false", "ipaddresspools,l2advertisements,bgpadvertisements,bgppeers,bfdprofiles", "--all")
	if err != nil {
		t.Fatalf("cleaning up: %v: %s", err, errOut)
	}
}

func object(kind, name, spec string) string {
	return fmt.Sprintf("apiVersion: ironlb.io/v1beta1\nkind: %s\nmetadata:\n  name: %s\nspec:\n%s", kind, name, spec)
}

func pool(addresses ...string) string {
	var b strings.Builder
	b.WriteString("  addresses:\n")
	for _, a := range addresses {
		fmt.Fprintf(&b, "    - %q\n", a)
	}
	return object("IPAddressPool", "p", b.String())
}

func peer(extra string) string {
	return object("BGPPeer", "peer", "  myASN: 64512\n  peerASN: 64500\n  peerAddress: 198.18.0.1\n"+extra)
}

func TestSamplesApply(t *testing.T) {
	testenv.Require(t, env)
	t.Cleanup(func() { deleteAll(t) })
	files, err := filepath.Glob("../../config/samples/*.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("expected a sample per kind in config/samples, found %v (%v)", files, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := apply(t, string(data)); err != nil {
			t.Errorf("sample %s refused: %v\n%s", f, err, out)
		}
	}
}

func TestDefaults(t *testing.T) {
	testenv.Require(t, env)
	t.Cleanup(func() { deleteAll(t) })
	manifest := pool("198.18.0.0/24") + "---\n" + peer("") + "---\n" + object("BFDProfile", "b", "  echoMode: false\n") +
		"---\n" + object("BGPAdvertisement", "a", "  peers: [peer]\n") + "---\n" + object("L2Advertisement", "l", "  interfaces: [eth0]\n")
	if out, err := apply(t, manifest); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	ctx := context.Background()
	for _, c := range []struct{ resource, path, want string }{
		{"ipaddresspool/p", "{.spec.autoAssign}", "true"},
		{"bgppeer/peer", "{.spec.peerPort}", "179"},
		{"bgppeer/peer", "{.spec.holdTime}", "90s"},
		{"bgppeer/peer", "{.spec.connectTime}", "10s"},
		{"bfdprofile/b", "{.spec.receiveInterval}/{.spec.transmitInterval}/{.spec.detectMultiplier}", "300/300/3"},
		{"bgpadvertisement/a", "{.spec.aggregationLength}/{.spec.aggregationLengthV6}", "32/128"},
		// Opt-in: MetalLB made excluding cordoned nodes the default and reverted it.
		{"bgpadvertisement/a", "{.spec.excludeCordonedNodes}", "false"},
		{"l2advertisement/l", "{.spec.excludeCordonedNodes}", "false"},
		{"bgpadvertisement/a", "{.spec.endpointWeightedECMP}", "false"},
		// Off unless asked for: no GRACEFUL_SHUTDOWN phase, a cordon withdraws at once.
		{"bgppeer/peer", "{.spec.gracefulShutdownTime}", ""},
	} {
		out, errOut, err := env.Kubectl(ctx, "", "get", c.resource, "-o", "jsonpath="+c.path)
		if err != nil || out != c.want {
			t.Errorf("%s %s = %q, want %q (%v %s)", c.resource, c.path, out, c.want, err, errOut)
		}
	}
}

// TestValidAddresses guards the CEL rules against refusing good input.
func TestValidAddresses(t *testing.T) {
	testenv.Require(t, env)
	t.Cleanup(func() { deleteAll(t) })
	for _, a := range []string{
		"198.18.0.0/24", "198.18.0.7/32", "198.18.0.10-198.18.0.20", "198.18.0.10 - 198.18.0.20",
		"198.18.0.1-198.18.0.1", "198.18.0.255-198.18.1.0", "0.0.0.0-255.255.255.255",
		"2001:db8::/64", "2001:db8::1/128", "2001:db8::1-2001:db8::ff",
		"2001:db8::ffff-2001:db9::", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8:0:1::-2001:db8:0:1::1",
	} {
		if out, err := apply(t, pool(a)); err != nil {
			t.Errorf("address %q refused: %v\n%s", a, err, out)
		}
	}
}

// TestGracefulShutdownAndWeightsAccepted guards the new BGP rules against refusing good
// input: gracefulShutdownTime at both ends of its range, endpointWeightedECMP on.
func TestGracefulShutdownAndWeightsAccepted(t *testing.T) {
	testenv.Require(t, env)
	t.Cleanup(func() { deleteAll(t) })
	for _, m := range []string{
		peer("  gracefulShutdownTime: 1s\n"), peer("  gracefulShutdownTime: 1h\n"), peer("  gracefulShutdownTime: 45s\n"),
		object("BGPAdvertisement", "a", "  endpointWeightedECMP: true\n  excludeCordonedNodes: true\n"),
	} {
		if out, err := apply(t, m); err != nil {
			t.Errorf("refused: %v\n%s\n%s", err, m, out)
		}
	}
}

// TestInvalidObjects checks that each rule refuses bad input with a message that names the
// field and the reason, as `kubectl apply` prints it.
func TestInvalidObjects(t *testing.T) {
	testenv.Require(t, env)
	t.Cleanup(func() { deleteAll(t) })
	cases := []struct {
		name     string
		manifest string
		field    string
		reason   string
	}{
		{"no addresses", object("IPAddressPool", "p", "  addresses: []\n"), "spec.addresses", "at least 1 item"},
		{"garbage address", pool("not-an-ip"), "spec.addresses[0]", `"not-an-ip" is neither a CIDR`},
		{"bare IPv4 address", pool("198.18.0.1"), "spec.addresses[0]", "write it as 198.18.0.1/32"},
		{"bare IPv6 address", pool("2001:db8::1"), "spec.addresses[0]", "write it as 2001:db8::1/128"},
		{"IPv4 host bits", pool("198.18.0.0/24", "198.18.1.5/24"), "spec.addresses[1]", "has host bits set; did you mean 198.18.1.0/24?"},
		{"IPv6 host bits", pool("2001:db8::1/64"), "spec.addresses[0]", "did you mean 2001:db8::/64?"},
		{"mixed-family range", pool("198.18.0.1-2001:db8::1"), "spec.addresses[0]", "mixes IPv4 and IPv6"},
		{"reversed IPv4 range", pool("198.18.0.20-198.18.0.10"), "spec.addresses[0]", "starts after it ends"},
		{"reversed IPv6 range", pool("2001:db9::-2001:db8::ffff"), "spec.addresses[0]", "starts after it ends"},
		{"three-part range", pool("198.18.0.1-198.18.0.2-198.18.0.3"), "spec.addresses[0]", "is neither a CIDR"},
		{"bad reserved entry", object("IPAddressPool", "p", "  addresses: [198.18.0.0/24]\n  reserved: [198.18.0.9/24]\n"), "spec.reserved[0]", "did you mean 198.18.0.0/24?"},
		{"negative priority", object("IPAddressPool", "p", "  addresses: [198.18.0.0/24]\n  serviceAllocation:\n    priority: -1\n"), "spec.serviceAllocation.priority", "greater than or equal to 0"},
		{"bad namespace name", object("IPAddressPool", "p", "  addresses: [198.18.0.0/24]\n  serviceAllocation:\n    namespaces: [Web_1]\n"), "spec.serviceAllocation.namespaces[0]", "should match"},
		{"myASN zero", object("BGPPeer", "peer", "  myASN: 0\n  peerASN: 64500\n  peerAddress: 198.18.0.1\n"), "spec.myASN", "greater than or equal to 1"},
		{"peerASN too large", object("BGPPeer", "peer", "  myASN: 64512\n  peerASN: 4294967296\n  peerAddress: 198.18.0.1\n"), "spec.peerASN", "less than or equal to 4294967295"},
		{"peerAddress missing", object("BGPPeer", "peer", "  myASN: 64512\n  peerASN: 64500\n"), "spec.peerAddress", "Required value"},
		{"peerAddress not an IP", object("BGPPeer", "peer", "  myASN: 64512\n  peerASN: 64500\n  peerAddress: router.example\n"), "spec.peerAddress", `"router.example" is not an IP address`},
		{"peerPort zero", peer("  peerPort: 0\n"), "spec.peerPort", "greater than or equal to 1"},
		{"peerPort too large", peer("  peerPort: 70000\n"), "spec.peerPort", "less than or equal to 65535"},
		{"holdTime below 3s", peer("  holdTime: 2s\n"), "spec.holdTime", "holdTime must be between 3s and 65535s"},
		{"holdTime 0s", peer("  holdTime: 0s\n"), "spec.holdTime", "holdTime must be between 3s and 65535s"},
		{"holdTime above the 16-bit field", peer("  holdTime: 65536s\n"), "spec.holdTime", "holdTime must be between 3s and 65535s"},
		{"keepalive not below hold", peer("  holdTime: 9s\n  keepaliveTime: 30s\n"), "spec.keepaliveTime", "keepaliveTime must be less than holdTime"},
		{"password and secret", peer("  password: s3cret\n  passwordSecret:\n    name: x\n    namespace: ironlb-system\n"), "spec.password", "password and passwordSecret are mutually exclusive"},
		{"routerID IPv6", peer("  routerID: \"2001:db8::1\"\n"), "spec.routerID", "is not an IPv4 address"},
		{"multihop on iBGP", object("BGPPeer", "peer", "  myASN: 64500\n  peerASN: 64500\n  peerAddress: 198.18.0.1\n  ebgpMultiHop: true\n"), "spec.ebgpMultiHop", "applies to eBGP only"},
		{"source family mismatch", peer("  sourceAddress: \"2001:db8::2\"\n"), "spec.sourceAddress", "same IP family as peerAddress"},
		{"restartTime too long", peer("  gracefulRestart:\n    enabled: true\n    restartTime: 5000s\n"), "spec.gracefulRestart.restartTime", "between 1s and 4095s"},
		{"connectTime zero", peer("  connectTime: 0s\n"), "spec.connectTime", "between 1s and 1h"},
		{"gracefulShutdownTime zero", peer("  gracefulShutdownTime: 0s\n"), "spec.gracefulShutdownTime", "gracefulShutdownTime must be between 1s and 1h"},
		{"gracefulShutdownTime above an hour", peer("  gracefulShutdownTime: 61m\n"), "spec.gracefulShutdownTime", "gracefulShutdownTime must be between 1s and 1h"},
		{"endpointWeightedECMP not a bool", object("BGPAdvertisement", "a", "  endpointWeightedECMP: \"yes\"\n"), "spec.endpointWeightedECMP", "boolean"},
		{"BFD receive too short", object("BFDProfile", "b", "  receiveInterval: 5\n"), "spec.receiveInterval", "greater than or equal to 10"},
		{"BFD transmit too long", object("BFDProfile", "b", "  transmitInterval: 70000\n"), "spec.transmitInterval", "less than or equal to 60000"},
		{"BFD echo too short", object("BFDProfile", "b", "  echoInterval: 9\n"), "spec.echoInterval", "greater than or equal to 10"},
		{"BFD multiplier 1", object("BFDProfile", "b", "  detectMultiplier: 1\n"), "spec.detectMultiplier", "greater than or equal to 2"},
		{"BFD multiplier 256", object("BFDProfile", "b", "  detectMultiplier: 256\n"), "spec.detectMultiplier", "less than or equal to 255"},
		{"IPv4 aggregation 33", object("BGPAdvertisement", "a", "  aggregationLength: 33\n"), "spec.aggregationLength", "less than or equal to 32"},
		{"IPv6 aggregation 129", object("BGPAdvertisement", "a", "  aggregationLengthV6: 129\n"), "spec.aggregationLengthV6", "less than or equal to 128"},
		{"community out of range", object("BGPAdvertisement", "a", "  communities: [\"65536:1\"]\n"), "spec.communities[0]", `"65536:1" is not a community`},
		{"large community short", object("BGPAdvertisement", "a", "  communities: [\"large:1:2\"]\n"), "spec.communities[0]", "large:A:B:C"},
		{"unknown community name", object("BGPAdvertisement", "a", "  communities: [no-such-thing]\n"), "spec.communities[0]", "one of no-export"},
		{"negative localPref", object("BGPAdvertisement", "a", "  localPref: -1\n"), "spec.localPref", "greater than or equal to 0"},
		{"excludeCordonedNodes not a bool", object("L2Advertisement", "l", "  excludeCordonedNodes: \"yes\"\n"), "spec.excludeCordonedNodes", "boolean"},
		{"interface with slash", object("L2Advertisement", "l", "  interfaces: [eth0/1]\n"), "spec.interfaces[0]", "is not a network interface name"},
		{"interface too long", object("L2Advertisement", "l", "  interfaces: [averyverylongname0]\n"), "spec.interfaces[0]", "may not be more than 15"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := apply(t, c.manifest)
			if err == nil {
				t.Fatalf("accepted, want refusal naming %s:\n%s", c.field, out)
			}
			if !strings.Contains(out, c.field+":") || !strings.Contains(out, c.reason) {
				t.Errorf("message does not name field %q with reason %q:\n%s", c.field, c.reason, out)
			}
		})
	}
}
