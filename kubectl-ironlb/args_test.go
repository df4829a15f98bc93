package main

import "testing"

func TestServiceName(t *testing.T) {
	cases := []struct {
		args []string
		want string
		err  bool
	}{
		{[]string{"svc", "web"}, "web", false},
		{[]string{"service", "web"}, "web", false},
		{[]string{"svc/web"}, "web", false},
		{[]string{"services/web"}, "web", false},
		{[]string{"web"}, "", true},
		{[]string{"pod", "web"}, "", true},
		{[]string{"svc/"}, "", true},
	}
	for _, c := range cases {
		got, err := serviceName(c.args)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("serviceName(%v) = %q, %v", c.args, got, err)
		}
	}
}
