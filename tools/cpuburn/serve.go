package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	maxWorkMs       = 10000
	shutdownTimeout = 5 * time.Second
	serveSummary    = 10 * time.Second
)

// server answers / after spending its work in CPU time and /healthz at once. At most
// cap(slots) requests work at a time; the rest get 503 without waiting, so a flood cannot
// pile up goroutines.
type server struct {
	work  time.Duration
	spin  func(context.Context, time.Duration) bool
	slots chan struct{}

	served, rejected, abandoned atomic.Int64
}

func newServer(work time.Duration, maxInflight int) *server {
	return &server{work: work, spin: spin, slots: make(chan struct{}, maxInflight)}
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", s.serveWork)
	// One request per connection: kube-proxy balances connections, not requests.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		mux.ServeHTTP(w, r)
	})
}

func (s *server) serveWork(w http.ResponseWriter, r *http.Request) {
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		s.rejected.Add(1)
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	if !s.spin(r.Context(), s.work) {
		s.abandoned.Add(1)
		return // the client is gone; nobody reads an answer
	}
	s.served.Add(1)
	fmt.Fprintf(w, "ok %dms\n", s.work.Milliseconds())
}

// take returns the counts since the last call as one line and starts new ones.
func (s *server) take() string {
	return fmt.Sprintf("served %d, rejected %d (busy), abandoned %d",
		s.served.Swap(0), s.rejected.Swap(0), s.abandoned.Swap(0))
}

func runServe(args []string) int {
	flags := flag.NewFlagSet("cpuburn serve", flag.ExitOnError)
	listen := flags.String("listen", envString("LISTEN", ":8080"), "address to listen on")
	workMs := flags.Int("work-ms", envInt("WORK_MS", 50), "CPU time each request to / costs, in ms")
	maxInflight := flags.Int("max-inflight", 64, "requests worked on at once; more get 503")
	flags.Parse(args)
	if *workMs < 0 || *workMs > maxWorkMs || *maxInflight < 1 || flags.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "cpuburn serve: want --work-ms in 0..%d, --max-inflight >= 1 "+
			"and no arguments\n", maxWorkMs)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cpuburn serve: %v\n", err)
		return 1
	}
	s := newServer(time.Duration(*workMs)*time.Millisecond, *maxInflight)
	httpServer := &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: 5 * time.Second,
	}
	failed := make(chan error, 1)
	go func() { failed <- httpServer.Serve(listener) }()
	fmt.Printf("cpuburn serve: %s, %dms of CPU per request, at most %d at once\n",
		listener.Addr(), *workMs, *maxInflight)

	ticker := time.NewTicker(serveSummary)
	defer ticker.Stop()
	for {
		select {
		case err := <-failed:
			fmt.Fprintf(os.Stderr, "cpuburn serve: %v\n", err)
			return 1
		case <-ticker.C:
			fmt.Printf("cpuburn serve: last %s: %s\n", serveSummary, s.take())
		case <-ctx.Done():
			code := shutdown(httpServer)
			fmt.Printf("cpuburn serve: stopped; last: %s\n", s.take())
			return code
		}
	}
}

func shutdown(httpServer *http.Server) int {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := httpServer.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(os.Stderr, "cpuburn serve: shutdown: %v\n", err)
	}
	// Requests still working after the timeout end with the process; that is fine here.
	return 0
}
