package chart

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// TestLint runs helm lint --strict with every toggle.
func TestLint(t *testing.T) {
	for _, tg := range toggles {
		t.Run(tg.name, func(t *testing.T) {
			out, err := helm(t, append([]string{"lint", "--strict", chartDir(t)}, setArgs(tg.set)...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

// TestSchemaRefusesBadValues checks that values.schema.json turns mistakes into errors
// that name the value, instead of a chart that renders something else.
func TestSchemaRefusesBadValues(t *testing.T) {
	cases := []struct {
		name string
		set  []string
		want string // part of the error
	}{
		{"unknown top-level value", []string{"logLevl=debug"}, "logLevl"},
		{"unknown nested value", []string{"speaker.layer2.memberlist.secret=x"}, "secret"},
		{"log level", []string{"logLevel=verbose"}, "/logLevel"},
		{"no replicas", []string{"controller.replicas=0"}, "/controller/replicas"},
		{"replicas as text", []string{"controller.replicas=two"}, "/controller/replicas"},
		{"no speaker mode", []string{"speaker.layer2.enabled=false", "speaker.bgp.enabled=false"}, "/speaker"},
		{"memberlist port", []string{"speaker.layer2.memberlist.port=70000"}, "/speaker/layer2/memberlist/port"},
		{"pull policy", []string{"image.pullPolicy=Sometimes"}, "/image/pullPolicy"},
		{"empty registry", []string{"image.registry="}, "/image/registry"},
		{"tag with a space", []string{"image.tag=1 2"}, "/image/tag"},
		{"class with a space", []string{"loadBalancerClass=a b"}, "/loadBalancerClass"},
		{"speaker Pod check as text", []string{"controller.bgpConditionChecksSpeakerPods=yes please"}, "/controller/bgpConditionChecksSpeakerPods"},
		{"extra arg that is no flag", []string{"controller.extraArgs={workers=4}"}, "/controller/extraArgs/0"},
		{"both monitor kinds", []string{"metrics.podMonitor.enabled=true", "metrics.serviceMonitor.enabled=true"}, "/metrics"},
		{"bad interval", []string{"metrics.podMonitor.interval=soon"}, "/metrics/podMonitor/interval"},
		{"usage threshold above 1", []string{"metrics.prometheusRule.poolUsageThreshold=1.5"}, "poolUsageThreshold"},
		{"example pool without addresses", []string{"examples.pool.enabled=true"}, "/examples/pool/addresses"},
		{"example advertisement without pool", []string{"examples.l2Advertisement.enabled=true"}, "/examples"},
		{"l2 example with layer 2 off", []string{"examples.pool.enabled=true", "examples.pool.addresses={198.18.100.0/28}", "examples.l2Advertisement.enabled=true", "speaker.layer2.enabled=false"}, "/speaker/layer2/enabled"},
		{"bgp example with bgp off", []string{"examples.pool.enabled=true", "examples.pool.addresses={198.18.100.0/28}", "examples.bgpAdvertisement.enabled=true", "speaker.bgp.enabled=false"}, "/speaker/bgp/enabled"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := helm(t, append([]string{"template", Release, chartDir(t)}, setArgs(c.set)...)...)
			if err == nil {
				t.Fatalf("helm template accepted %v", c.set)
			}
			if !strings.Contains(err.Error(), "schema") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error does not come from the schema or does not name %q:\n%v", c.want, err)
			}
		})
	}
}

// TestWorkloads checks, for every toggle, what the issue asks of the pods: a highly
// available, locked-down controller and a host-network speaker with only the
// capabilities its modes need.
func TestWorkloads(t *testing.T) {
	for _, tg := range toggles {
		t.Run(tg.name, func(t *testing.T) {
			values := map[string]string{}
			for _, s := range tg.set {
				k, v, _ := strings.Cut(s, "=")
				values[k] = v
			}
			objs := parse(t, render(t, tg.set...))
			d := one[appsv1.Deployment](t, objs, "Deployment")
			ds := one[appsv1.DaemonSet](t, objs, "DaemonSet")

			wantReplicas := int32(2)
			if values["controller.replicas"] == "1" {
				wantReplicas = 1
			}
			if d.Spec.Replicas == nil || *d.Spec.Replicas != wantReplicas {
				t.Errorf("controller replicas = %v, want %d", d.Spec.Replicas, wantReplicas)
			}
			if pdbs := find(objs, "PodDisruptionBudget"); (len(pdbs) == 1) != (wantReplicas > 1) {
				t.Errorf("%d PodDisruptionBudgets with %d replicas", len(pdbs), wantReplicas)
			}
			c := d.Spec.Template.Spec.Containers[0]
			if !slices.Contains(c.Args, "--leader-elect=true") {
				t.Errorf("controller args %v lack --leader-elect=true", c.Args)
			}
			pod := d.Spec.Template.Spec.SecurityContext
			if pod == nil || pod.RunAsNonRoot == nil || !*pod.RunAsNonRoot || pod.RunAsUser == nil || *pod.RunAsUser == 0 {
				t.Errorf("controller pod may run as root: %+v", pod)
			}
			checkLockedDown(t, "controller", c, nil)
			if a := d.Spec.Template.Spec.Affinity; values["controller.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key"] == "" &&
				(a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0) {
				t.Errorf("controller has no anti-affinity: %+v", a)
			}
			checkProbes(t, "controller", c, 7473)

			s := ds.Spec.Template.Spec
			if !s.HostNetwork {
				t.Error("speaker is not in the host network")
			}
			sc := s.Containers[0]
			layer2 := values["speaker.layer2.enabled"] != "false"
			var caps []corev1.Capability
			if layer2 {
				caps = []corev1.Capability{"NET_RAW"}
			}
			checkLockedDown(t, "speaker", sc, caps)
			if !layer2 && (sc.SecurityContext.RunAsNonRoot == nil || !*sc.SecurityContext.RunAsNonRoot) {
				t.Error("speaker without layer 2 needs no capability and must not run as root")
			}
			checkProbes(t, "speaker", sc, 7475)
			if !slices.ContainsFunc(s.Tolerations, func(tol corev1.Toleration) bool {
				return tol.Key == "node-role.kubernetes.io/control-plane" && tol.Operator == corev1.TolerationOpExists
			}) {
				t.Errorf("speaker does not tolerate control-plane nodes: %+v", s.Tolerations)
			}
			env := map[string]string{}
			for _, e := range sc.Env {
				if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
					env[e.Name] = e.ValueFrom.FieldRef.FieldPath
				}
			}
			for name, path := range map[string]string{"NODE_NAME": "spec.nodeName", "NODE_IP": "status.hostIP", "POD_NAMESPACE": "metadata.namespace", "POD_NAME": "metadata.name"} {
				if env[name] != path {
					t.Errorf("speaker env %s comes from %q, want the downward API's %s", name, env[name], path)
				}
			}

			// The chart renders no key (helm template would make a new one each time):
			// the controller creates the Secret, unless it is the user's own.
			// The only Secret it may render is the PodMonitors' scraper token, which the API
			// server fills in (metrics-scraper.yaml).
			for _, sec := range find(objs, "Secret") {
				if typ, _, _ := unstructured.NestedString(sec.Object, "type"); typ != string(corev1.SecretTypeServiceAccountToken) {
					t.Errorf("the chart renders Secret %s (type %q); the memberlist key is the controller's to create", sec.GetName(), typ)
				}
			}
			mounted := slices.ContainsFunc(sc.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == "memberlist" })
			if mounted != layer2 {
				t.Errorf("memberlist Secret mounted: %v, layer 2: %v", mounted, layer2)
			}
			wantName := ""
			if layer2 && values["speaker.layer2.memberlist.existingSecret"] == "" {
				wantName = s.Volumes[0].Secret.SecretName // the Secret the speakers mount
			}
			var gotName string
			for _, a := range c.Args {
				if n, ok := strings.CutPrefix(a, "--memberlist-secret-name="); ok {
					gotName = n
				}
			}
			if gotName != wantName {
				t.Errorf("controller creates memberlist Secret %q, want %q (what the speakers mount, unless existingSecret)", gotName, wantName)
			}

			for _, kind := range []string{"PodMonitor", "ServiceMonitor", "PrometheusRule", "IPAddressPool", "L2Advertisement", "BGPAdvertisement"} {
				want := map[string]bool{
					"PodMonitor":       values["metrics.podMonitor.enabled"] == "true",
					"ServiceMonitor":   values["metrics.serviceMonitor.enabled"] == "true",
					"PrometheusRule":   values["metrics.prometheusRule.enabled"] == "true",
					"IPAddressPool":    values["examples.pool.enabled"] == "true",
					"L2Advertisement":  values["examples.l2Advertisement.enabled"] == "true",
					"BGPAdvertisement": values["examples.bgpAdvertisement.enabled"] == "true",
				}[kind]
				if got := len(find(objs, kind)) > 0; got != want {
					t.Errorf("%s rendered: %v, want %v", kind, got, want)
				}
			}
			for _, kind := range []string{"IPAddressPool", "L2Advertisement", "BGPAdvertisement"} {
				for _, o := range find(objs, kind) {
					if o.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
						t.Errorf("example %s %s would be deleted by helm uninstall", kind, o.GetName())
					}
				}
			}
		})
	}
}

// TestRenderIsStable renders the chart twice with every toggle: the output must be the
// same, so GitOps tools that render with helm template (Argo CD) see no change, and above
// all no new memberlist key, on every sync.
func TestRenderIsStable(t *testing.T) {
	for _, tg := range toggles {
		t.Run(tg.name, func(t *testing.T) {
			if first, second := render(t, tg.set...), render(t, tg.set...); first != second {
				t.Errorf("two renders differ:\n%s\n---\n%s", first, second)
			}
		})
	}
}

// checkLockedDown fails unless the container cannot escalate, cannot write its root
// filesystem and has exactly the capabilities in add.
func checkLockedDown(t *testing.T, name string, c corev1.Container, add []corev1.Capability) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil {
		t.Errorf("%s has no securityContext", name)
		return
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s may escalate privileges", name)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s root filesystem is writable", name)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("%s is privileged", name)
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("%s does not drop every capability: %+v", name, sc.Capabilities)
	} else if !slices.Equal(sc.Capabilities.Add, add) {
		t.Errorf("%s adds capabilities %v, want %v", name, sc.Capabilities.Add, add)
	}
}

func checkProbes(t *testing.T, name string, c corev1.Container, port int32) {
	t.Helper()
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for probe, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != probe || ports[p.HTTPGet.Port.String()] != port {
			t.Errorf("%s has no %s probe on port %d: %+v", name, probe, port, p)
		}
	}
}

// TestCRDPolicy checks the rendered side of the CRD policy (README, "CRDs"): every CRD in
// crds/ is also rendered as a pre-upgrade hook that Helm keeps, and crds.upgrade=false
// only stops the upgrades. TestHelmLifecycle checks the behaviour on an API server.
func TestCRDPolicy(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(chartDir(t), "crds", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in crds/: %v", err)
	}
	var names []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range parse(t, string(data)) {
			names = append(names, o.GetName())
		}
	}
	sort.Strings(names)
	for _, c := range []struct {
		set  []string
		want []string
	}{{nil, names}, {[]string{"crds.upgrade=false"}, nil}} {
		var got []string
		for _, o := range find(parse(t, render(t, c.set...)), "CustomResourceDefinition") {
			a := o.GetAnnotations()
			if a["helm.sh/hook"] != "pre-upgrade" || a["helm.sh/resource-policy"] != "keep" {
				t.Errorf("CRD %s has annotations %v, want a kept pre-upgrade hook", o.GetName(), a)
			}
			got = append(got, o.GetName())
		}
		sort.Strings(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("with %v the chart renders CRDs %v, want %v", c.set, got, c.want)
		}
	}
}

// use is one line of permissions.yaml.
type use struct {
	Group    string   `json:"group"`
	Resource string   `json:"resource"`
	Verbs    []string `json:"verbs"`
	Scope    string   `json:"scope"`
	Why      string   `json:"why"`
}

// nonResourceURL is the group of a grant on a non-resource URL (resource is the URL).
const nonResourceURL = "nonResourceURL"

// grant is one (group, resource, verb, scope) an account has.
type grant struct{ group, resource, verb, scope string }

func (g grant) String() string {
	group := g.group
	if group == "" {
		group = "core"
	}
	return fmt.Sprintf("%s %s/%s (%s)", g.verb, group, g.resource, g.scope)
}

// TestRBACLeastPrivilege renders the chart with every toggle and compares what each
// ServiceAccount is granted with permissions.yaml, the list of what each program uses and
// why: a grant not in the list (more than needed) or a use not granted (the program would
// fail) fails the test. Wildcards and Roles outside the release namespace fail it too.
func TestRBACLeastPrivilege(t *testing.T) {
	data, err := os.ReadFile("permissions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var uses map[string][]use
	if err := utilyaml.Unmarshal(data, &uses); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[grant]bool{}
	for program, list := range uses {
		want[program] = map[grant]bool{}
		for _, u := range list {
			if u.Why == "" || (u.Scope != "cluster" && u.Scope != "namespace") {
				t.Fatalf("permissions.yaml: %s %s needs a why and a scope of cluster or namespace", program, u.Resource)
			}
			for _, v := range u.Verbs {
				want[program][grant{u.Group, u.Resource, v, u.Scope}] = true
			}
		}
	}
	for _, tg := range toggles {
		t.Run(tg.name, func(t *testing.T) {
			objs := parse(t, render(t, tg.set...))
			got := granted(t, objs)
			prefix := "ironlb-"
			if slices.Contains(tg.set, "fullnameOverride=lb") {
				prefix = "lb-"
			}
			for program := range want {
				account := prefix + program
				have, ok := got[account]
				if !ok {
					t.Errorf("no ServiceAccount %s is granted anything", account)
					continue
				}
				for g := range have {
					if !want[program][g] {
						t.Errorf("%s is granted %s, which permissions.yaml does not list as used", account, g)
					}
				}
				for g := range want[program] {
					if !have[g] {
						t.Errorf("%s lacks %s, which permissions.yaml lists as used", account, g)
					}
				}
				delete(got, account)
			}
			// The PodMonitors' scraper, with metrics.secure: get /metrics and nothing else.
			scraper := prefix + "metrics-scraper"
			wantScraper := slices.Contains(tg.set, "metrics.podMonitor.enabled=true") && !slices.Contains(tg.set, "metrics.secure=false")
			if have, ok := got[scraper]; ok != wantScraper || ok && !maps.Equal(have, map[grant]bool{{nonResourceURL, "/metrics", "get", "cluster"}: true}) {
				t.Errorf("ServiceAccount %s is granted %v, want get /metrics only when PodMonitors scrape securely (%v)", scraper, have, wantScraper)
			}
			delete(got, scraper)
			for account := range got {
				t.Errorf("ServiceAccount %s is granted permissions but is not a known program", account)
			}
		})
	}
}

// granted resolves bindings: ServiceAccount name -> what it may do.
func granted(t *testing.T, objs []*unstructured.Unstructured) map[string]map[grant]bool {
	t.Helper()
	rules := map[string][]rbacv1.PolicyRule{} // "ClusterRole/name" or "Role/name"
	for _, kind := range []string{"ClusterRole", "Role"} {
		for _, o := range find(objs, kind) {
			if kind == "Role" && o.GetNamespace() != Namespace {
				t.Errorf("Role %s is in namespace %q, not the release namespace", o.GetName(), o.GetNamespace())
			}
			r := convert[rbacv1.ClusterRole](t, o)
			rules[kind+"/"+o.GetName()] = r.Rules
		}
	}
	out := map[string]map[grant]bool{}
	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		for _, o := range find(objs, kind) {
			b := convert[rbacv1.RoleBinding](t, o)
			scope := "cluster"
			if kind == "RoleBinding" || b.RoleRef.Kind == "Role" {
				scope = "namespace"
			}
			rs, ok := rules[b.RoleRef.Kind+"/"+b.RoleRef.Name]
			if !ok {
				t.Errorf("%s %s refers to %s %s, which the chart does not render", kind, b.Name, b.RoleRef.Kind, b.RoleRef.Name)
			}
			for _, s := range b.Subjects {
				if s.Kind != "ServiceAccount" || s.Namespace != Namespace {
					t.Errorf("%s %s binds %s %s/%s; only the release's ServiceAccounts may be bound", kind, b.Name, s.Kind, s.Namespace, s.Name)
					continue
				}
				if out[s.Name] == nil {
					out[s.Name] = map[grant]bool{}
				}
				for _, r := range rs {
					if len(r.NonResourceURLs) > 0 && strings.HasSuffix(b.RoleRef.Name, "-metrics-reader") {
						for _, u := range r.NonResourceURLs {
							for _, v := range r.Verbs {
								out[s.Name][grant{nonResourceURL, u, v, scope}] = true
							}
						}
						continue
					}
					if len(r.NonResourceURLs) > 0 || len(r.ResourceNames) > 0 {
						t.Errorf("%s has a rule with nonResourceURLs or resourceNames: %+v", b.RoleRef.Name, r)
					}
					for _, g := range r.APIGroups {
						for _, res := range r.Resources {
							for _, v := range r.Verbs {
								if g == "*" || res == "*" || v == "*" {
									t.Errorf("%s grants a wildcard: %+v", b.RoleRef.Name, r)
								}
								out[s.Name][grant{g, res, v, scope}] = true
							}
						}
					}
				}
			}
		}
	}
	return out
}

// TestConfigRBAC checks what the lab relies on: config/rbac holds exactly the chart's
// ServiceAccounts, roles and bindings and the speaker's status policy for release ironlb
// in ironlb-system (make check-generated proves the files are the chart's current output).
func TestConfigRBAC(t *testing.T) {
	dir := filepath.Join(root(t), "config", "rbac")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var inConfig []string
	for _, e := range entries {
		if e.Name() == "kustomization.yaml" || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range parse(t, string(data)) {
			inConfig = append(inConfig, o.GetKind()+" "+o.GetNamespace()+"/"+o.GetName())
		}
	}
	rbacKinds := []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
		"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
	var inChart []string
	for _, o := range parse(t, render(t)) {
		if slices.Contains(rbacKinds, o.GetKind()) {
			inChart = append(inChart, o.GetKind()+" "+o.GetNamespace()+"/"+o.GetName())
		}
	}
	sort.Strings(inConfig)
	sort.Strings(inChart)
	if !slices.Equal(inConfig, inChart) {
		t.Errorf("config/rbac holds\n  %s\nthe chart renders\n  %s", strings.Join(inConfig, "\n  "), strings.Join(inChart, "\n  "))
	}
	for _, name := range []string{"ServiceAccount ironlb-system/ironlb-controller", "ServiceAccount ironlb-system/ironlb-speaker"} {
		if !slices.Contains(inConfig, name) {
			t.Errorf("config/rbac lacks %s, which the lab runs the components as", name)
		}
	}
}
