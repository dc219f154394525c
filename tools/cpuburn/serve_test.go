package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"
)

func processCPUTime(t *testing.T) time.Duration {
	t.Helper()
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		t.Fatal(err)
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	response, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response, string(body)
}

func TestEachRequestCostsItsWorkInCPUTime(t *testing.T) {
	const requests, work = 10, 20 * time.Millisecond
	backend := httptest.NewServer(newServer(work, 4).handler())
	defer backend.Close()
	before := processCPUTime(t)
	for i := 0; i < requests; i++ {
		response, body := get(t, backend.URL+"/")
		if response.StatusCode != http.StatusOK || body != "ok 20ms\n" {
			t.Fatalf("got %d %q", response.StatusCode, body)
		}
		if !response.Close {
			t.Fatal("the server kept the connection open")
		}
	}
	used := processCPUTime(t) - before
	// The client, the HTTP plumbing and the runtime cost something too, but far less.
	if used < requests*work || used > 2*requests*work {
		t.Errorf("%d requests of %s used %s of CPU", requests, work, used)
	}
}

func TestHealthzDoesNoWork(t *testing.T) {
	s := newServer(time.Second, 1)
	s.spin = func(context.Context, time.Duration) bool {
		t.Error("/healthz did work")
		return true
	}
	backend := httptest.NewServer(s.handler())
	defer backend.Close()
	response, body := get(t, backend.URL+"/healthz")
	if response.StatusCode != http.StatusOK || body != "ok\n" || !response.Close {
		t.Errorf("got %d %q, close %t", response.StatusCode, body, response.Close)
	}
}

func TestRequestsBeyondTheSlotsAreTurnedAwayAtOnce(t *testing.T) {
	s := newServer(time.Millisecond, 1)
	working, release := make(chan struct{}), make(chan struct{})
	s.spin = func(context.Context, time.Duration) bool {
		close(working)
		<-release
		return true
	}
	backend := httptest.NewServer(s.handler())
	defer backend.Close()
	first := make(chan int)
	go func() {
		response, err := http.Get(backend.URL + "/")
		if err != nil {
			t.Error(err)
			first <- 0
			return
		}
		response.Body.Close()
		first <- response.StatusCode
	}()
	<-working
	response, _ := get(t, backend.URL+"/")
	if response.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("second request: got %d, want 503", response.StatusCode)
	}
	close(release)
	if status := <-first; status != http.StatusOK {
		t.Errorf("first request: got %d, want 200", status)
	}
	if s.served.Load() != 1 || s.rejected.Load() != 1 {
		t.Errorf("served %d, rejected %d", s.served.Load(), s.rejected.Load())
	}
}

func TestSpinStopsWhenTheClientIsGone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	began := time.Now()
	if spin(ctx, time.Minute) {
		t.Error("spin reported a minute of work done")
	}
	if elapsed := time.Since(began); elapsed > 5*time.Second {
		t.Errorf("spin went on for %s after its context ended", elapsed)
	}
}
