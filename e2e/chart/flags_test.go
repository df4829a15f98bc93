package chart

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// downward holds stand-ins for the downward API values a kubelet would set.
var downward = map[string]string{
	"spec.nodeName":      "node-1",
	"status.hostIP":      "198.18.0.11",
	"metadata.namespace": Namespace,
	"metadata.name":      "ironlb-speaker-x7k2p",
}

// TestContainerFlags renders the chart with every toggle and runs each container's
// binary (bin/ironlb-controller, bin/ironlb-speaker from make build) with the rendered
// arguments and environment plus --validate-flags, so a renamed or removed flag, or a
// value the program refuses, fails here rather than in a crash-looping pod.
func TestContainerFlags(t *testing.T) {
	binaries := map[string]string{
		"controller": bin(t, "ironlb-controller", "build"),
		"speaker":    bin(t, "ironlb-speaker", "build"),
	}
	// The test itself must be able to fail: an unknown flag is refused.
	if out, err := exec.Command(binaries["controller"], "--no-such-flag", "--validate-flags").CombinedOutput(); err == nil {
		t.Fatalf("ironlb-controller accepted an unknown flag: %s", out)
	}
	for _, tg := range toggles {
		t.Run(tg.name, func(t *testing.T) {
			objs := parse(t, render(t, tg.set...))
			var containers []corev1.Container
			containers = append(containers, one[appsv1.Deployment](t, objs, "Deployment").Spec.Template.Spec.Containers...)
			containers = append(containers, one[appsv1.DaemonSet](t, objs, "DaemonSet").Spec.Template.Spec.Containers...)
			for _, c := range containers {
				path, ok := binaries[c.Name]
				if !ok {
					t.Fatalf("container %s runs no known binary", c.Name)
				}
				if len(c.Command) > 0 {
					t.Errorf("container %s overrides the image's entrypoint with %v", c.Name, c.Command)
				}
				env := containerEnv(t, c)
				args := make([]string, 0, len(c.Args)+1)
				for _, a := range c.Args {
					a = expand(a, env)
					if varRef.MatchString(a) {
						t.Errorf("container %s argument %q refers to a variable its env does not define", c.Name, a)
					}
					args = append(args, a)
				}
				cmd := exec.Command(path, append(args, "--validate-flags")...)
				cmd.Env = []string{}
				for k, v := range env {
					cmd.Env = append(cmd.Env, k+"="+v)
				}
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("%s refuses the chart's arguments %v: %v\n%s", c.Name, args, err, out)
				}
			}
		})
	}
}

// containerEnv is the environment the kubelet would give the container.
func containerEnv(t *testing.T, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = expand(e.Value, env)
		case e.ValueFrom.FieldRef != nil:
			v, ok := downward[e.ValueFrom.FieldRef.FieldPath]
			if !ok {
				t.Fatalf("container %s env %s: no stand-in for %s", c.Name, e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
			env[e.Name] = v
		default:
			t.Fatalf("container %s env %s: source %+v is not handled by this test", c.Name, e.Name, e.ValueFrom)
		}
	}
	return env
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expand replaces $(VAR) as the kubelet does in args; an unknown variable stays as it is.
func expand(s string, env map[string]string) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := env[strings.TrimSuffix(strings.TrimPrefix(m, "$("), ")")]; ok {
			return v
		}
		return m
	})
}
