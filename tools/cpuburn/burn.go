package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
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

// runBurn is the fixed-burn mode: the command line without a subcommand.
func runBurn(args []string) int {
	flags := flag.NewFlagSet("cpuburn", flag.ExitOnError)
	initial := flags.Int("millicores", envInt("MILLICORES", 0), "CPU to burn, in millicores")
	file := flags.String("millicores-file", envString("MILLICORES_FILE", "/etc/burn/millicores"),
		"file holding the target in millicores, read every second when it exists")
	flags.Parse(args)
	if flags.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "cpuburn: unknown command %q (want serve, drive, or flags only)\n",
			flags.Arg(0))
		return 2
	}
	targets := &valueFile[int]{path: *file, parse: strconv.Atoi, max: maxMillicores, unit: "millicores"}

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
			return 0
		case <-ticker.C:
			next, ok := targets.read()
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

// spin keeps the calling goroutine's thread busy until it has run for cost, or ctx ends
// first (the client gave up). It reports whether the whole cost was spent.
func spin(ctx context.Context, cost time.Duration) bool {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	done := ctx.Done()
	used := threadCPUTime()
	for threadCPUTime()-used < cost {
		select {
		case <-done:
			return false
		default:
		}
	}
	return true
}

func threadCPUTime() time.Duration {
	var now syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&now)), 0)
	return time.Duration(now.Nano())
}
