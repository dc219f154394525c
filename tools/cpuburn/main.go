// Command cpuburn keeps the CPU busy at a given number of millicores until it is stopped.
//
// The target comes from --millicores (or the MILLICORES environment variable) and, when the
// file named by --millicores-file exists, from that file, which is read again every second:
// mounted from a ConfigMap, it changes the load without restarting the pod. cpuburn opens no
// socket and exits 0 on SIGTERM or SIGINT.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Each worker burns its share of one core in slices of this period: long enough for the
// scheduler's accounting, short enough that the kubelet's 10 s samples see a steady rate.
const period = 100 * time.Millisecond

const clockThreadCPUTime = 3 // CLOCK_THREAD_CPUTIME_ID

const maxMillicores = 64000

func main() {
	initial := flag.Int("millicores", envInt("MILLICORES", 0), "CPU to burn, in millicores")
	file := flag.String("millicores-file", envString("MILLICORES_FILE", "/etc/burn/millicores"),
		"file holding the target in millicores, read every second when it exists")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	target := *initial
	var workers sync.WaitGroup
	cancel := start(ctx, target, &workers)
	fmt.Printf("cpuburn: burning %dm\n", target)
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			cancel()
			workers.Wait()
			fmt.Println("cpuburn: stopped")
			return
		case <-ticker.C:
			next, ok := readTarget(*file)
			if !ok || next == target {
				continue
			}
			cancel()
			workers.Wait()
			target = next
			cancel = start(ctx, target, &workers)
			fmt.Printf("cpuburn: burning %dm (from %s)\n", target, *file)
		}
	}
}

// start runs ceil(millicores/1000) workers, each busy for its share of every period.
func start(parent context.Context, millicores int, workers *sync.WaitGroup) context.CancelFunc {
	ctx, cancel := context.WithCancel(parent)
	count := (millicores + 999) / 1000
	if count > runtime.GOMAXPROCS(0) {
		runtime.GOMAXPROCS(count)
	}
	for i := 0; i < count; i++ {
		share := millicores - i*1000
		if share > 1000 {
			share = 1000
		}
		workers.Add(1)
		go func(busy time.Duration) {
			defer workers.Done()
			burn(ctx, busy)
		}(period * time.Duration(share) / 1000)
	}
	return cancel
}

// burn spins until its thread has really run for busy in each period, then sleeps what is
// left of it: counting CPU time, not wall time, keeps the rate right on a contended node.
func burn(ctx context.Context, busy time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for ctx.Err() == nil {
		began, used := time.Now(), threadCPUTime()
		for threadCPUTime()-used < busy && time.Since(began) < period {
			// Spin; the clock reads are the work.
		}
		select {
		case <-ctx.Done():
		case <-time.After(period - time.Since(began)):
		}
	}
}

func threadCPUTime() time.Duration {
	var now syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&now)), 0)
	return time.Duration(now.Nano())
}

// lastRejected keeps a bad file from being reported every second.
var lastRejected string

func readTarget(path string) (int, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	text := strings.TrimSpace(string(data))
	value, err := strconv.Atoi(text)
	if err != nil || value < 0 || value > maxMillicores {
		if text != lastRejected {
			fmt.Fprintf(os.Stderr, "cpuburn: ignoring %s (%q): want 0..%d millicores\n",
				path, text, maxMillicores)
			lastRejected = text
		}
		return 0, false
	}
	return value, true
}

func envInt(name string, fallback int) int {
	if value, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return value
	}
	return fallback
}

func envString(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}
