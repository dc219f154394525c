package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"
)

const (
	maxRate      = 1000.0
	driveSummary = 10 * time.Second
)

// driver sends GET requests to url, each on a new connection, at most cap(slots) at a time;
// a request that finds no free slot is not sent and counts as dropped.
type driver struct {
	url    string
	client *http.Client
	slots  chan struct{}
	flight sync.WaitGroup

	mu     sync.Mutex
	stats  driveStats // since the last summary
	totals driveStats // since the start, for /metrics (latencies not kept)
	rate   float64
}

type driveStats struct {
	sent, ok, failed, dropped int
	latencies                 []time.Duration // of the ok requests
}

func newDriver(url string, timeout time.Duration, maxInflight int) *driver {
	transport := &http.Transport{DisableKeepAlives: true}
	return &driver{
		url:    url,
		client: &http.Client{Transport: transport, Timeout: timeout},
		slots:  make(chan struct{}, maxInflight),
	}
}

// pace sends rate requests a second, evenly spaced, taking each new rate from rates; at
// rate 0 it sends nothing. It returns when ctx ends, after the requests in flight.
func (d *driver) pace(ctx context.Context, rate float64, rates <-chan float64) {
	defer d.flight.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	if rate == 0 {
		timer.Stop()
	}
	next := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case rate = <-rates:
			timer.Stop()
			if rate > 0 {
				next = time.Now()
				timer.Reset(0)
			}
		case <-timer.C:
			d.dispatch(ctx)
			next = next.Add(time.Duration(float64(time.Second) / rate))
			// After a stall (a suspended node, say) carry on at the rate, without a burst.
			if now := time.Now(); now.Sub(next) > time.Second {
				next = now
			}
			timer.Reset(time.Until(next))
		}
	}
}

func (d *driver) dispatch(ctx context.Context) {
	select {
	case d.slots <- struct{}{}:
	default:
		d.record(func(s *driveStats) { s.dropped++ })
		return
	}
	d.flight.Add(1)
	go func() {
		defer d.flight.Done()
		defer func() { <-d.slots }()
		began := time.Now()
		ok := d.request(ctx)
		elapsed := time.Since(began)
		if !ok && ctx.Err() != nil {
			return // cut short by our own shutdown, not the server's failure
		}
		d.record(func(s *driveStats) {
			s.sent++
			if ok {
				s.ok++
				s.latencies = append(s.latencies, elapsed)
			} else {
				s.failed++
			}
		})
	}()
}

func (d *driver) request(ctx context.Context) bool {
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url, nil)
	if err != nil {
		return false
	}
	response, err := d.client.Do(request)
	if err != nil {
		return false
	}
	defer response.Body.Close()
	_, err = io.Copy(io.Discard, response.Body)
	return err == nil && response.StatusCode == http.StatusOK
}

func (d *driver) record(update func(*driveStats)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	update(&d.stats)
	update(&d.totals)
	d.totals.latencies = nil
}

func (d *driver) setRate(rate float64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rate = rate
}

// serveMetrics writes the driver's counters in Prometheus' text format, so that an autoscaler
// can scale the servers on the request rate the driver really sends.
func (d *driver) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	d.mu.Lock()
	totals, rate := d.totals, d.rate
	d.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	fmt.Fprintf(w, "# HELP cpuburn_drive_requests_total Requests the driver sent or dropped, by outcome.\n")
	fmt.Fprintf(w, "# TYPE cpuburn_drive_requests_total counter\n")
	for _, outcome := range []struct {
		name  string
		count int
	}{{"ok", totals.ok}, {"failed", totals.failed}, {"dropped", totals.dropped}} {
		fmt.Fprintf(w, "cpuburn_drive_requests_total{outcome=%q} %d\n", outcome.name, outcome.count)
	}
	fmt.Fprintf(w, "# HELP cpuburn_drive_rate_requests_per_second The rate the driver is set to send.\n")
	fmt.Fprintf(w, "# TYPE cpuburn_drive_rate_requests_per_second gauge\n")
	fmt.Fprintf(w, "cpuburn_drive_rate_requests_per_second %g\n", rate)
}

// take returns the counts since the last call and starts new ones.
func (d *driver) take() driveStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	taken := d.stats
	d.stats = driveStats{}
	return taken
}

func (s driveStats) String() string {
	p50 := "-"
	if len(s.latencies) > 0 {
		p50 = median(s.latencies).Round(100 * time.Microsecond).String()
	}
	return fmt.Sprintf("sent %d, ok %d, failed %d, dropped %d (in-flight cap), p50 %s",
		s.sent, s.ok, s.failed, s.dropped, p50)
}

func median(values []time.Duration) time.Duration {
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	return sorted[len(sorted)/2]
}

func runDrive(args []string) int {
	flags := flag.NewFlagSet("cpuburn drive", flag.ExitOnError)
	url := flags.String("url", envString("URL", ""), "URL to send GET requests to")
	initial := flags.Float64("rate", envFloat("RATE", 0), "requests per second")
	file := flags.String("rate-file", envString("RATE_FILE", "/etc/drive/rate"),
		"file holding the rate, read every second when it exists")
	timeout := flags.Duration("timeout", 5*time.Second, "time limit of one request")
	maxInflight := flags.Int("max-inflight", 100, "requests in flight at once; more are dropped")
	metrics := flags.String("metrics-listen", envString("METRICS_LISTEN", ""),
		"address to serve /metrics on (Prometheus text format); empty: none")
	flags.Parse(args)
	if *url == "" || *initial < 0 || *initial > maxRate || *maxInflight < 1 || flags.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "cpuburn drive: want --url, --rate in 0..%g, --max-inflight >= 1 "+
			"and no arguments\n", maxRate)
		return 2
	}
	rates := &valueFile[float64]{path: *file, parse: parseFloat, max: maxRate, unit: "requests/s"}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	d := newDriver(*url, *timeout, *maxInflight)
	changes := make(chan float64)
	paced := make(chan struct{})
	rate := *initial
	d.setRate(rate)
	if *metrics != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/metrics", d.serveMetrics)
		server := &http.Server{Addr: *metrics, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
				fmt.Fprintf(os.Stderr, "cpuburn drive: metrics: %v\n", err)
			}
		}()
		defer server.Close()
	}
	go func() {
		defer close(paced)
		d.pace(ctx, rate, changes)
	}()
	fmt.Printf("cpuburn drive: %g requests/s to %s\n", rate, *url)

	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	summary := time.NewTicker(driveSummary)
	defer summary.Stop()
	for {
		select {
		case <-ctx.Done():
			<-paced
			fmt.Printf("cpuburn drive: stopped; last: %s\n", d.take())
			return 0
		case <-summary.C:
			fmt.Printf("cpuburn drive: %g/s, last %s: %s\n", rate, driveSummary, d.take())
		case <-poll.C:
			next, ok := rates.read()
			if !ok || next == rate {
				continue
			}
			select {
			case changes <- next:
				rate = next
				d.setRate(rate)
				fmt.Printf("cpuburn drive: %g requests/s (from %s)\n", rate, *file)
			case <-ctx.Done():
			}
		}
	}
}
