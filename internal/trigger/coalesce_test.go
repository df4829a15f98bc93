package trigger

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func TestWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type step struct {
		at     int    // ms
		op     string // "add", "urgent" or "due"
		due    bool   // for "due"
		waitMs int    // for "due" when not due; -1 nothing pending
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"nothing pending", []step{{0, "due", false, -1}}},
		{"one event waits the quiet time", []step{
			{0, "add", false, 0}, {0, "due", false, 20}, {19, "due", false, 1}, {20, "due", true, 0}, {21, "due", false, -1}}},
		{"events keep the batch open while they come", []step{
			{0, "add", false, 0}, {15, "add", false, 0}, {20, "due", false, 15}, {30, "add", false, 0}, {49, "due", false, 1}, {50, "due", true, 0}}},
		{"a steady stream is handed over every max", []step{
			{0, "add", false, 0}, {10, "add", false, 0}, {20, "add", false, 0}, {30, "add", false, 0}, {40, "add", false, 0},
			{50, "add", false, 0}, {60, "add", false, 0}, {70, "add", false, 0}, {80, "add", false, 0}, {90, "add", false, 0},
			{100, "add", false, 0}, {110, "add", false, 0}, {120, "add", false, 0}, {130, "add", false, 0}, {140, "add", false, 0},
			{150, "add", false, 0}, {160, "add", false, 0}, {170, "add", false, 0}, {180, "add", false, 0}, {190, "due", false, 10},
			{199, "add", false, 0}, {200, "due", true, 0},
			// the next batch starts with the next event, not at the hand-over
			{200, "due", false, -1}, {210, "add", false, 0}, {225, "due", false, 5}}},
		{"an urgent event is due at once, with the pending batch", []step{
			{0, "add", false, 0}, {5, "urgent", false, 0}, {5, "due", true, 0}, {5, "due", false, -1}}},
		{"after an urgent batch, events wait again", []step{
			{0, "urgent", false, 0}, {0, "due", true, 0}, {1, "add", false, 0}, {1, "due", false, 20}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := Window{Quiet: 20 * time.Millisecond, Max: 200 * time.Millisecond}
			for i, s := range tc.steps {
				switch s.op {
				case "add":
					w.Add(at(s.at))
				case "urgent":
					w.Urgent(at(s.at))
				case "due":
					due, wait := w.Due(at(s.at))
					want := time.Duration(s.waitMs) * time.Millisecond
					if s.waitMs < 0 {
						want = -1
					}
					if due != s.due || (!due && wait != want) {
						t.Fatalf("step %d (at %d ms): due %v wait %v, want due %v wait %v", i, s.at, due, wait, s.due, want)
					}
				}
			}
		})
	}
}

// TestWindowSpacing: once a batch is known to cost d, the next one is not due before
// Spacing×d (at most MaxGap) after the last hand-over, except an urgent one; a batch that
// comes later than that waits only its quiet time.
func TestWindowSpacing(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	w := Window{Quiet: 20 * time.Millisecond, Max: 200 * time.Millisecond, Spacing: 20, MaxGap: 2 * time.Second}
	check := func(ms int, wantDue bool, wantWait time.Duration) {
		t.Helper()
		due, wait := w.Due(at(ms))
		if due != wantDue || (!due && wait != wantWait) {
			t.Fatalf("at %d ms: due %v wait %v, want due %v wait %v", ms, due, wait, wantDue, wantWait)
		}
	}
	w.Add(at(0))
	check(20, true, 0)
	w.Cost(30 * time.Millisecond) // the next batch waits until 20 + 600 ms
	w.Add(at(100))
	check(120, false, 500*time.Millisecond)
	check(620, true, 0)
	w.Cost(time.Second) // 20 s, capped at 2 s
	w.Add(at(700))
	check(720, false, 1900*time.Millisecond)
	w.Urgent(at(800))
	check(800, true, 0)
	w.Cost(10 * time.Millisecond) // 200 ms
	w.Add(at(1500))               // long after: only the quiet time
	check(1500, false, 20*time.Millisecond)
	check(1520, true, 0)
}

// TestCoalescerHandsOverABurstOnce: a thousand Adds in a burst reach the queue as one
// request per name, in one or two batches, and Now does not wait for the quiet time.
func TestCoalescerHandsOverABurstOnce(t *testing.T) {
	c := NewCoalescer(50*time.Millisecond, time.Second, 0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	if err := c.Source().Start(ctx, q); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Start(ctx) }()
	all := types.NamespacedName{Name: "all"}
	for range 1000 {
		c.Add(all)
	}
	start := time.Now()
	req, _ := q.Get()
	if req.Name != "all" || time.Since(start) < 30*time.Millisecond {
		t.Fatalf("got %v after %v, want \"all\" after the quiet time", req, time.Since(start))
	}
	q.Done(req)
	time.Sleep(100 * time.Millisecond)
	if n := q.Len(); n != 0 {
		t.Errorf("%d more requests queued after the burst, want none", n)
	}
	start = time.Now()
	c.Now(all)
	req, _ = q.Get()
	if took := time.Since(start); req.Name != "all" || took > 25*time.Millisecond {
		t.Errorf("urgent request %v took %v, want it at once", req, took)
	}
	q.Done(req)
}
