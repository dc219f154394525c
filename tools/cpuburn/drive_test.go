package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer answers every request with 200 and counts requests and new connections.
func countingServer(t *testing.T, handler http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var connections atomic.Int64
	backend := httptest.NewUnstartedServer(handler)
	backend.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			connections.Add(1)
		}
	}
	backend.Start()
	t.Cleanup(backend.Close)
	return backend, &connections
}

func TestDriverSendsTheRateItIsGivenOneConnectionEach(t *testing.T) {
	var requests atomic.Int64
	backend, connections := countingServer(t, func(http.ResponseWriter, *http.Request) {
		requests.Add(1)
	})
	d := newDriver(backend.URL, 5*time.Second, 10)
	rates := make(chan float64)
	ctx, cancel := context.WithCancel(context.Background())
	paced := make(chan struct{})
	go func() {
		defer close(paced)
		d.pace(ctx, 0, rates)
	}()

	time.Sleep(300 * time.Millisecond)
	if n := requests.Load(); n != 0 {
		t.Errorf("rate 0 sent %d requests", n)
	}
	rates <- 50
	time.Sleep(time.Second)
	cancel()
	<-paced

	sent := requests.Load()
	if sent < 40 || sent > 52 {
		t.Errorf("rate 50/s for 1 s sent %d requests", sent)
	}
	if connections.Load() != sent {
		t.Errorf("%d requests used %d connections", sent, connections.Load())
	}
	stats := d.take()
	if stats.ok != int(sent) || stats.failed != 0 || stats.dropped != 0 || len(stats.latencies) != stats.ok {
		t.Errorf("stats %s for %d requests", stats, sent)
	}
}

func TestDriverDropsRequestsBeyondItsCap(t *testing.T) {
	release := make(chan struct{})
	var arrived atomic.Int64
	backend, _ := countingServer(t, func(http.ResponseWriter, *http.Request) {
		arrived.Add(1)
		<-release
	})
	d := newDriver(backend.URL, 5*time.Second, 2)
	for i := 0; i < 5; i++ {
		d.dispatch(context.Background())
	}
	close(release)
	d.flight.Wait()
	stats := d.take()
	if stats.sent != 2 || stats.ok != 2 || stats.dropped != 3 || arrived.Load() != 2 {
		t.Errorf("stats %s, %d arrived; want 2 sent and ok, 3 dropped", stats, arrived.Load())
	}
}

func TestDriverCountsErrorsAndTimeoutsAsFailed(t *testing.T) {
	backend, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(500 * time.Millisecond)
			return
		}
		http.Error(w, "busy", http.StatusServiceUnavailable)
	})
	for _, path := range []string{"/busy", "/slow"} {
		d := newDriver(backend.URL+path, 100*time.Millisecond, 1)
		d.dispatch(context.Background())
		d.flight.Wait()
		if stats := d.take(); stats.sent != 1 || stats.failed != 1 || stats.ok != 0 {
			t.Errorf("%s: stats %s", path, stats)
		}
	}
}

func TestMedian(t *testing.T) {
	values := []time.Duration{5, 1, 4, 2, 3}
	if got := median(values); got != 3 {
		t.Errorf("median %d, want 3", got)
	}
	if values[0] != 5 {
		t.Error("median sorted its argument")
	}
}

func TestMetricsCountEveryOutcomeSinceTheStart(t *testing.T) {
	d := newDriver("http://127.0.0.1:1/", time.Second, 1)
	d.record(func(s *driveStats) { s.sent++; s.ok++ })
	d.record(func(s *driveStats) { s.sent++; s.failed++ })
	d.take() // a summary does not reset the counters
	d.record(func(s *driveStats) { s.dropped++ })
	d.setRate(2.5)
	recorder := httptest.NewRecorder()
	d.serveMetrics(recorder, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := recorder.Body.String()
	for _, line := range []string{
		`cpuburn_drive_requests_total{outcome="ok"} 1`,
		`cpuburn_drive_requests_total{outcome="failed"} 1`,
		`cpuburn_drive_requests_total{outcome="dropped"} 1`,
		"cpuburn_drive_rate_requests_per_second 2.5",
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("missing %q in:\n%s", line, body)
		}
	}
}
